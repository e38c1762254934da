import { randomBytes, randomUUID } from 'node:crypto';

const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** A short random string for stream epochs (8 characters, as Centrifuge's memory broker). */
export function newEpoch(): string {
  const bytes = randomBytes(8);
  let out = '';
  for (let i = 0; i < 8; i++) out += letters[bytes[i]! % letters.length];
  return out;
}

export function newClientId(): string {
  return randomUUID();
}
