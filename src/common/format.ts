/** `3,361`: counts as people read them, in messages and summaries. */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}
