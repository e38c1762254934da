/**
 * The one glob matcher of the repository: `*` matches any run of characters, `?` one character,
 * everything else itself. Used for channel patterns (the `channels` API) and allowed origins.
 */
export interface GlobOptions {
  /** `*` and `?` never match this character (origins use "/": `https://*.example.com`). */
  readonly separator?: string;
  /** Compare without regard to case (origins). */
  readonly ignoreCase?: boolean;
}

const SPECIAL = /[.*+?^${}()|[\]\\/-]/g;

export function globToRegExp(glob: string, options: GlobOptions = {}): RegExp {
  const any = options.separator === undefined ? '.' : `[^${options.separator.replace(SPECIAL, '\\$&')}]`;
  let src = '';
  for (const ch of glob) {
    if (ch === '*') src += `${any}*`;
    else if (ch === '?') src += any;
    else src += ch.replace(SPECIAL, '\\$&');
  }
  return new RegExp(`^${src}$`, options.ignoreCase ? 'is' : 's');
}

/** Whether a string matches any of the patterns. */
export function globMatcher(patterns: readonly string[], options: GlobOptions = {}): (s: string) => boolean {
  const res = patterns.map((p) => globToRegExp(p, options));
  return (s) => res.some((re) => re.test(s));
}
