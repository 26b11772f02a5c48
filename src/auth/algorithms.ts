/** Signature algorithms the gateway accepts; `none` and HMAC are never among them. */
export const TOKEN_ALGORITHMS = ['ES256', 'EdDSA'] as const;
