// Progress text for a terminal: bytes, rate, ETA against the database size estimate. Pure.
const mib = (n: number) => (n / 1048576).toFixed(n < 10 * 1048576 ? 1 : 0);

export function formatProgress(bytes: number, estimate: number, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? bytes / (elapsedMs / 1000) : 0;
  const parts = [`${mib(bytes)} MiB${estimate > 0 ? ` of ~${mib(estimate)} MiB` : ''}`, `${mib(rate)} MiB/s`];
  if (estimate > bytes && rate > 0) parts.push(`ETA ${Math.ceil((estimate - bytes) / rate)} s`);
  return `backup: ${parts.join(', ')}`;
}
