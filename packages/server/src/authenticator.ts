import { type ConnectionClaims, type SubscriptionClaims, TokenError } from './auth.js';
import { TokenVerifier } from './auth.js';
import { Disconnects, DisconnectError, Errors, ReplyError } from './codes.js';
import type { Connection } from './connection.js';
import type { ConnectingContext, Credentials, Decision } from './context.js';
import type { NodeContext } from './node-context.js';
import type { CommandPipeline } from './pipeline.js';
import type { AuthenticateInput } from './protocol.js';
import { newClientId } from './internal/ids.js';
import { expiry } from './expiry.js';
import { httpReason } from './http-status.js';

export function claimsToCredentials(c: ConnectionClaims): Credentials {
  return {
    user: c.user,
    ...(c.info !== undefined ? { info: c.info } : {}),
    ...(c.meta !== undefined ? { meta: c.meta } : {}),
    ...(c.expireAt ? { expireAt: c.expireAt } : {}),
    claims: c.payload,
    channels: [...c.channels, ...Object.keys(c.subs).filter((ch) => !c.channels.includes(ch))],
  };
}

/**
 * Who a connection is: connection tokens and the connecting handler at connect, subscription
 * tokens at subscribe, and both kinds again at refresh. Every token check of the node is here.
 */
export class Authenticator {
  readonly verifier: TokenVerifier;
  /** The app's connecting handler (`Switchboard.onConnecting`). */
  onConnecting: ((ctx: ConnectingContext) => unknown) | undefined;

  constructor(
    readonly ctx: NodeContext,
    readonly pipeline: CommandPipeline,
  ) {
    this.verifier = new TokenVerifier(ctx.options.token ?? {});
  }

  /**
   * Runs token verification and the connecting handler. Never throws for bad credentials: the
   * decision says how to refuse.
   */
  async authenticate(
    input: Omit<AuthenticateInput, 'token'> & { token: string | undefined | null },
    handler: ((ctx: ConnectingContext) => unknown) | undefined = this.onConnecting,
  ): Promise<Decision> {
    const token = input.token ?? undefined;
    const options = this.ctx.options;
    let claims: ConnectionClaims | undefined;
    let tokenError: 'invalid' | 'expired' | undefined;
    if (token !== undefined && token !== '') {
      if (this.verifier.configured) {
        try {
          claims = await this.verifier.verifyConnection(token);
        } catch (err) {
          tokenError = err instanceof TokenError ? err.kind : 'invalid';
        }
      } else if (!options.insecure) tokenError = 'invalid';
    }
    const fallback = (): Decision => {
      if (tokenError === 'expired') return { kind: 'decline', code: Errors.tokenExpired.code, message: 'token expired' };
      if (tokenError === 'invalid') return { kind: 'decline', code: Disconnects.invalidToken.code, message: Disconnects.invalidToken.reason };
      if (claims) return { kind: 'accept', credentials: claimsToCredentials(claims) };
      if (options.allowAnonymous || options.insecure) return { kind: 'accept', credentials: { user: '' } };
      return { kind: 'decline', code: Disconnects.badRequest.code, message: 'no credentials' };
    };
    let decision: Decision | undefined;
    await this.pipeline.run({ kind: 'connect', protocol: input.protocol, client: undefined, data: input.data, state: {} }, async () => {
      if (!handler) return;
      const ctx: ConnectingContext = {
        protocol: input.protocol,
        request: input.request,
        token,
        data: input.data,
        claims,
        tokenError,
        clientId: input.clientId ?? newClientId(),
        transport: 'websocket',
        name: input.name ?? '',
        version: input.version ?? '',
        emulatedHeaders: input.headers,
        accept(credentials) {
          decision ??= { kind: 'accept', credentials: { ...(claims ? claimsToCredentials(claims) : { user: '' }), ...credentials } };
        },
        decline(code, message) {
          decision ??= { kind: 'decline', code, message: message ?? (code < 600 ? httpReason(code) : 'unauthorized') };
        },
        fail(code, message, temporary = false) {
          decision ??= { kind: 'decline', code, message, error: { temporary } };
        },
      };
      await handler(ctx);
    });
    return decision ?? fallback();
  }

  /**
   * The one subscription-token check: verifies `token` for `channel` and this connection. An
   * expired token is error 109, an unverifiable one 103; a valid token for another channel, user
   * or client is a forged request: disconnect 3500.
   */
  async verifySubscriptionToken(conn: Connection, channel: string, token: string): Promise<SubscriptionClaims> {
    let claims: SubscriptionClaims;
    try {
      claims = await this.verifier.verifySubscription(token);
    } catch (err) {
      if (err instanceof TokenError && err.kind === 'expired') throw new ReplyError(Errors.tokenExpired);
      throw new ReplyError(Errors.permissionDenied);
    }
    if (claims.channel !== channel || claims.user !== conn.user || (claims.client !== undefined && claims.client !== conn.id)) {
      throw new DisconnectError(Disconnects.invalidToken);
    }
    if (this.ctx.revocations.revoked(claims.user, claims.payload)) throw new ReplyError(Errors.permissionDenied.code, 'token revoked');
    return claims;
  }

  /** Connection token refresh: verifies the new token (same user) and moves the expiry. */
  async refreshConnection(conn: Connection, token: string): Promise<{ expires: boolean; ttl: number }> {
    let claims: ConnectionClaims;
    try {
      claims = await this.verifier.verifyConnection(token);
    } catch (err) {
      if (err instanceof TokenError && err.kind === 'expired') throw new DisconnectError(Disconnects.expired);
      throw new DisconnectError(Disconnects.invalidToken);
    }
    if (claims.user !== conn.user) throw new DisconnectError(Disconnects.invalidToken);
    if (this.ctx.revocations.revoked(claims.user, claims.payload)) throw new DisconnectError(Disconnects.tokenRevoked);
    conn.expireAt = claims.expireAt ? claims.expireAt * 1000 : 0;
    if (claims.info !== undefined) conn.info = claims.info;
    conn.claims = claims.payload;
    return expiry(conn.expireAt);
  }

  async refreshSubscription(conn: Connection, channel: string, token: string): Promise<{ expires: boolean; ttl: number }> {
    const sub = conn.subscriptions.get(channel);
    if (!sub) throw new ReplyError(Errors.permissionDenied, 'not subscribed');
    const claims = await this.verifySubscriptionToken(conn, channel, token);
    sub.expireAt = claims.expireAt ? claims.expireAt * 1000 : 0;
    return expiry(sub.expireAt);
  }
}
