/** The standalone server as a module (tests, custom launchers). */
export { startServer } from './server.js';
export type { RunningServer } from './server.js';
export { loadConfig, finish, settings, developmentConfig, parseDuration, ConfigError, SCHEMA } from './config.js';
export type { RawConfig, ServerSettings, ConfigIssue } from './config.js';
export { engines } from './engines.js';
export type { Engine, EngineFactory } from './engines.js';
export { createLogger } from './logger.js';
