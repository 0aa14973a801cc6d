/**
 * `3,361`: counts as people read them, in messages and summaries. Written out by hand: `toLocaleString` loads ICU
 * data on its first call (about 20 ms), on the way to every run's first request.
 */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const [whole = '', fraction] = String(Math.abs(n)).split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+$)/g, ',');
  return `${n < 0 ? '-' : ''}${grouped}${fraction === undefined ? '' : `.${fraction.slice(0, 3)}`}`;
}
