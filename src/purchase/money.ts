// resolvedOptions() builds a fresh object each call: keep the digits beside the format.
const formats = new Map<string, { format: Intl.NumberFormat; digits: number }>();

/** "$19.99" for 1999 USD: minor units rendered for people. */
export function formatMoney(amount: number, currency: string): string {
  let entry = formats.get(currency);
  if (!entry) {
    const format = new Intl.NumberFormat('en-US', { style: 'currency', currency });
    formats.set(currency, (entry = { format, digits: format.resolvedOptions().maximumFractionDigits ?? 2 }));
  }
  return entry.format.format(amount / 10 ** entry.digits);
}
