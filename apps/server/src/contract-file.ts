/**
 * `switchboard serve --contract FILE`: an ES module (.mjs/.js; .ts under a TypeScript loader) that
 * exports a channel contract as `contract` or as its default export, written with any Standard
 * Schema library installed next to it (zod, valibot, arktype...). Publications on the channels it
 * covers are checked; one that does not match is refused with error 107 and the schema's issues.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { defineContract, type Contract } from '@switchboard/contract';

export async function loadContractFile(file: string): Promise<Contract> {
  let mod: { contract?: unknown; default?: unknown };
  try {
    mod = (await import(pathToFileURL(resolve(file)).href)) as typeof mod;
  } catch (err) {
    throw new Error(`--contract ${file}: cannot load the module: ${err instanceof Error ? err.message : String(err)}`);
  }
  const contract = mod.contract ?? mod.default;
  if (!contract || typeof contract !== 'object') throw new Error(`--contract ${file}: the module exports no \`contract\` (or default) object`);
  try {
    return defineContract(contract as Contract);
  } catch (err) {
    throw new Error(`--contract ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
}
