/**
 * The repository's one glob matcher (`*` any run, `?` one character) lives in @switchboard/contract,
 * the dependency-free package the client shares with the server; the core takes it from there.
 */
export { globMatcher, globToRegExp, type GlobOptions } from '@switchboard/contract';
