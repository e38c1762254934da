/**
 * The standalone server's `engine.sqlite` section, defined once here: types, defaults,
 * `SWITCHBOARD_ENGINE_SQLITE_*` variables and messages derive from it. Imports neither
 * better-sqlite3 nor the store: the server checks a configuration without loading them.
 */
import { choice, engineSection, flag, section, text, type z } from '@switchboard/config';

export const sqliteConfigSection = engineSection({
  type: 'sqlite',
  schema: section({
    path: text().optional(),
    synchronous: choice(['normal', 'full'], 'normal').default('normal'),
    integrity_check: flag().default(true),
  }),
  whenSelected(s, report) {
    if (s.path === undefined || s.path === '') report('path', 'required with engine.type "sqlite": the database file, e.g. "/var/lib/switchboard/history.db" (or SWITCHBOARD_ENGINE_SQLITE_PATH)');
  },
});

/** The validated `engine.sqlite` section, defaults filled in. */
export type SqliteEngineSection = z.output<typeof sqliteConfigSection.schema>;
