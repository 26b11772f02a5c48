const formats = new Map<string, Intl.NumberFormat>();

/** "$19.99" for 1999 USD: minor units rendered for people. */
export function formatMoney(amount: number, currency: string): string {
  let format = formats.get(currency);
  if (!format) formats.set(currency, (format = new Intl.NumberFormat('en-US', { style: 'currency', currency })));
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  return format.format(amount / 10 ** digits);
}
