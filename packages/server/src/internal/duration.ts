/**
 * The one duration parser of the repository: Go-style durations as Centrifugo's configuration
 * writes them ("300s", "5m", "1h30m", "250ms", "1.5s", "0"), in whole milliseconds. Go's units
 * below a millisecond ("ns", "us", "µs") are accepted and rounded. A sign, spaces, a bare number
 * other than "0" or an unknown unit is refused (undefined), never guessed.
 */
const UNIT_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** Milliseconds for a Go-style duration, or undefined when `text` is not one. */
export function parseDuration(text: string): number | undefined {
  if (text === '0') return 0;
  if (text === '') return undefined;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const m = PART.exec(text);
    if (!m) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
}
