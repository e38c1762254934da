import { centrifugeProtocol } from './protocols/centrifuge/session.js';
import { phoenixProtocol } from './protocols/phoenix/session.js';
import { plainProtocol } from './protocols/plain/session.js';
import { pondProtocol } from './protocols/pond/session.js';
import { Switchboard, type SwitchboardOptions } from './switchboard.js';

/** A Switchboard node with every built-in protocol registered. */
export function createSwitchboard(options: SwitchboardOptions = {}): Switchboard {
  const sb = new Switchboard(options);
  sb.registerProtocol(centrifugeProtocol());
  sb.registerProtocol(pondProtocol());
  sb.registerProtocol(plainProtocol());
  sb.registerProtocol(phoenixProtocol());
  return sb;
}
