import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs; payment tokens and credentials never reach them. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    redact: {
      paths: ['*.authorization', '*.token', 'payment.token', '*.payment.token', 'req.headers.authorization', 'password'],
      censor: '[redacted]',
    },
  });
}
