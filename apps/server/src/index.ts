/** The standalone server as a module (tests, custom launchers). */
export { startServer } from './server.js';
export type { RunningServer } from './server.js';
export { loadConfig, finish, settings, developmentConfig, parseDuration, ConfigError, configSchema, ENV_KEYS } from './config.js';
export type { RawConfig, ServerConfig, ServerSettings, ConfigIssue, LoadOptions } from './config.js';
export { ENGINE_SECTIONS } from './engines.js';
export { engines } from './engines.js';
export type { Engine, EngineFactory } from './engines.js';
export { createLogger } from './logger.js';
