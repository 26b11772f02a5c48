import type { DestinationStream } from 'pino';
import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs; payment tokens and credentials never reach them. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    redact: {
      paths: [
        '*.authorization',
        '*.token',
        'token',
        'payment.token',
        '*.payment.token',
        'paymentToken',
        '*.paymentToken',
        'req.headers.authorization',
        'password',
        '*.password',
      ],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
