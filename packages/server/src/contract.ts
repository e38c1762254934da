/**
 * Channel contracts on the server: `createSwitchboard({ contract })` checks every publication on a
 * channel the contract covers — from the HTTP API, from clients of any protocol and from app code
 * (`sb.publish`) — before it is stored or fanned out. A publication that does not match is refused
 * with error 107 (bad request) and the schema's issues; nothing is published.
 *
 * Kept apart from the core: the core calls `checkPublication` once, at the top of `publish`.
 */
import { check, formatIssues, type Contract, type ContractIssue } from '@switchboard/contract';
import { Errors, ReplyError } from './codes.js';

export interface ContractOptions {
  /** Channel patterns → Standard Schema validators (`defineContract` from `@switchboard/contract`). */
  contract?: Contract;
}

/** Error 107 with the contract's issues (`issues`), as an API error, a client's publish error, or a throw in app code. */
export class ContractViolation extends ReplyError {
  readonly issues: ContractIssue[];
  readonly channel: string;
  constructor(channel: string, key: string, issues: ContractIssue[]) {
    super(Errors.badRequest.code, `publication to ${channel} does not match the contract for ${JSON.stringify(key)}: ${formatIssues(issues)}`);
    this.name = 'ContractViolation';
    this.issues = issues;
    this.channel = channel;
  }
}

/** Throws `ContractViolation` when `data` (raw JSON text when `raw`) does not match the schema for `channel`. */
export async function checkPublication(contract: Contract | undefined, channel: string, data: unknown, raw: boolean): Promise<void> {
  if (!contract || channel === '*') return;
  let value = data;
  if (raw) {
    try {
      value = JSON.parse(data as string);
    } catch {
      throw new ReplyError(Errors.badRequest.code, 'data must be a JSON value');
    }
  }
  const r = await check(contract, channel, value);
  if (!r.ok) throw new ContractViolation(channel, r.key, r.issues);
}
