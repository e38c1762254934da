import type fc from 'fast-check';
import type { CloseFrame, ReplyFrame } from './frames.js';

/** What the fuzz runner needs to know of one wire protocol. */
export interface Dialect {
  protocol: string;
  /** Endpoint path on the fuzz server. */
  path: string;
  /** Frames the protocol answers in-band with a coded reply (sent many per connection). */
  replyFrames: fc.Arbitrary<ReplyFrame>;
  /** Frames that must end the connection with a documented close code (one per connection). */
  closeFrames: fc.Arbitrary<CloseFrame>;
  /** 'newline': many frames per WebSocket message; 'single': one frame per message. */
  batching: 'newline' | 'single';
  /** Frames that make a fresh connection ready for reply frames, with the replies they must get. */
  handshake: readonly ReplyFrame[];
  /** Replies the server sends on its own once the connection is open (outcome tokens, no key). */
  greeting: readonly string[];
  /** The first id for reply frames (ids then increase by one per frame). */
  firstId: number;
  /** Extract the replies (key: the id the frame chose, if any; outcome) from one inbound WebSocket message. */
  parseReplies(text: string, out: { key: string | undefined; outcome: string }[]): void;
}
