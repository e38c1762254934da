/**
 * The one glob matcher of the repository: `*` matches any run of characters, `?` one character,
 * everything else itself. Used for channel patterns (contracts, the server's `channels` API) and
 * allowed origins. It lives here, in the dependency-free package that the client and the server
 * both use; @switchboard/server re-exports it (`internal/glob.ts`).
 */
export interface GlobOptions {
  /** `*` and `?` never match this character (origins use "/": `https://*.example.com`). */
  readonly separator?: string;
  /** Compare without regard to case (origins). */
  readonly ignoreCase?: boolean;
  /** `?` matches one character (default); false: `?` is itself (contract keys, typed by `*` only). */
  readonly singleChar?: boolean;
}

const SPECIAL = /[.*+?^${}()|[\]\\/-]/g;

export function globToRegExp(glob: string, options: GlobOptions = {}): RegExp {
  const any = options.separator === undefined ? '.' : `[^${options.separator.replace(SPECIAL, '\\$&')}]`;
  let src = '';
  for (const ch of glob) {
    if (ch === '*') src += `${any}*`;
    else if (ch === '?' && options.singleChar !== false) src += any;
    else src += ch.replace(SPECIAL, '\\$&');
  }
  return new RegExp(`^${src}$`, options.ignoreCase ? 'is' : 's');
}

/** Whether a string matches any of the patterns. */
export function globMatcher(patterns: readonly string[], options: GlobOptions = {}): (s: string) => boolean {
  const res = patterns.map((p) => globToRegExp(p, options));
  return (s) => res.some((re) => re.test(s));
}
