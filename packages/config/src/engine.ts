/**
 * Engine sections: how a package contributes its own part of the standalone server's
 * configuration. An engine package (Redis, PostgreSQL, NATS…) exports one `EngineSection`: the
 * `engine.type` value that selects it, the zod schema of its keys (`engine.<type>.*`, built with
 * this kit's leaves so messages, defaults, durations and environment variables come for free),
 * and the checks that only hold when it is selected (a required address). The server composes the
 * sections it knows into `engine` with `engineSchema`; see apps/server/README.md.
 */
import { z } from 'zod';
import { text } from './leaves.js';

export type SectionSchema = z.ZodType;

export interface EngineSection<T extends string = string, S extends SectionSchema = SectionSchema> {
  /** The `engine.type` value; the section's keys live under `engine.<type>`. */
  readonly type: T;
  /** The section's keys: `section({...})` of this kit's leaves. */
  readonly schema: S;
  /** Checks that hold only when `engine.type` selects this engine; `report(key, message)` with `key` relative to the section. */
  whenSelected?(value: z.output<S>, report: (key: string, message: string) => void): void;
}

/** Declares a section (keeps `type` a literal, so `config.engine.<type>` is typed). */
export function engineSection<const T extends string, S extends SectionSchema>(def: EngineSection<T, S>): EngineSection<T, S> {
  return def;
}

type Sections = readonly EngineSection<string, SectionSchema>[];
type EngineShape<L extends Sections> = { type: ReturnType<typeof engineType> } & { [E in L[number] as E['type']]: E['schema'] };

function engineType() {
  return text().default('memory');
}

/**
 * The `engine` group: `type` (default "memory") and one group per section. Whether `type` names a
 * known engine, and the selected section's own checks, are `checkEngine`'s.
 */
export function engineSchema<const L extends Sections>(sections: L) {
  const shape: Record<string, z.ZodType> = { type: engineType() };
  for (const s of sections) shape[s.type] = s.schema;
  return z.strictObject(shape as EngineShape<L>).prefault({} as never);
}

/** The checks that depend on `engine.type`, in the file's words (`engine.redis.address: …`). */
export function checkEngine(sections: Sections, engine: { type: string } & Record<string, unknown>, report: (key: string, message: string) => void): void {
  const known = ['memory', ...sections.map((s) => s.type)];
  if (!known.includes(engine.type)) {
    report('engine.type', `unknown engine "${engine.type}": use ${known.map((k) => `"${k}"`).join(', ').replace(/, ([^,]*)$/, ' or $1')}`);
    return;
  }
  const selected = sections.find((s) => s.type === engine.type);
  selected?.whenSelected?.(engine[selected.type], (key, message) => report(`engine.${selected.type}.${key}`, message));
}
