/**
 * @switchboard/config: configuration defined once per key (type, default, duration parsing,
 * environment variable, error message), on zod 4. The standalone server and every engine package
 * build their sections with it.
 */
export { leaves, text, choice, flag, integer, duration, strings, stringOrStrings, stringMap, section, formatDuration } from './leaves.js';
export type { EnvKind, LeafMeta } from './leaves.js';
export { ConfigError, describeIssues, suggest, typeName } from './issues.js';
export type { ConfigIssue } from './issues.js';
export { ENV_PREFIX, envName, envKeys, envValue, applyEnv, unknownEnv } from './env.js';
export type { EnvKey } from './env.js';
export { parseWithEnv } from './parse.js';
export type { Parsed } from './parse.js';
export { engineSection, engineSchema, checkEngine } from './engine.js';
export type { EngineSection, SectionSchema } from './engine.js';
export { keyOf, valueAt } from './walk.js';
export { z } from 'zod';
