/**
 * Centrifugo's proxy configuration applied to a node: the client-wide proxies (connect, refresh),
 * the channel proxies chosen per namespace (subscribe, publish, sub_refresh, each by proxy name,
 * `default` being the one of `channel.proxy`), and RPC proxies chosen per RPC namespace.
 */
import { Errors, ReplyError } from '../codes.js';
import type { PublishContext, RpcContext, SubscribeContext } from '../context.js';
import type { Switchboard } from '../switchboard.js';
import { connectProxy, ProxyBackend, publishProxy, type ProxyHandlerOptions, refreshProxy, rpcProxy, subRefreshProxy, subscribeProxy } from './handlers.js';
import type { ProxyEndpoint, ProxyMethod } from './types.js';

/** Which proxy (by name) a channel namespace uses per event; absent: the namespace's own rules. */
export interface NamespaceProxies {
  subscribe?: string;
  publish?: string;
  subRefresh?: string;
}

export interface ProxySetup {
  /** `client.proxy.connect` (enabled). */
  connect?: ProxyEndpoint;
  /** `client.proxy.refresh` (enabled): connections are refreshed by the server. */
  refresh?: ProxyEndpoint;
  /** `channel.proxy.*`: the proxies a namespace names `default`. */
  subscribe?: ProxyEndpoint;
  publish?: ProxyEndpoint;
  subRefresh?: ProxyEndpoint;
  /** `rpc.proxy`: the RPC proxy named `default`. */
  rpc?: ProxyEndpoint;
  /** Top-level `proxies`, by name. */
  named?: Readonly<Record<string, ProxyEndpoint>>;
  /** Per channel namespace ('' = channels without a namespace). */
  namespaces?: Readonly<Record<string, NamespaceProxies>>;
  /** Per RPC namespace ('' = methods without a namespace): the RPC proxy's name. */
  rpcNamespaces?: Readonly<Record<string, { proxy?: string }>>;
  /** Between an RPC namespace and the method (default ':'). */
  rpcNamespaceBoundary?: string;
}

/** The namespace a channel belongs to, as the channel registry reads it ('' for none). */
function namespaceOf(channel: string): string {
  const name = channel.startsWith('$') ? channel.slice(1) : channel;
  const i = name.indexOf(':');
  return i < 0 ? '' : name.slice(0, i);
}

/**
 * Install the handlers `setup` describes on `sb` (replacing its connecting, subscribe, publish,
 * refresh and sub refresh handlers and its `'*'` RPC handler where a proxy is configured).
 * Returns what closes the backends' connections.
 */
export function installProxies(sb: Switchboard, setup: ProxySetup, options: ProxyHandlerOptions = {}): { close(): void } {
  const opts: ProxyHandlerOptions = { logger: sb.logger, ...options };
  const backends: ProxyBackend[] = [];
  const cache = new Map<string, ProxyBackend>();
  const endpointOf = (name: string, fallback: ProxyEndpoint | undefined, what: string): ProxyEndpoint => {
    const e = name === 'default' ? fallback : setup.named?.[name];
    if (!e) throw new Error(`${what} proxy "${name}" is not defined${name === 'default' ? '' : ' in proxies'}`);
    return { ...e, name };
  };
  const backend = (name: string, fallback: ProxyEndpoint | undefined, method: ProxyMethod, what: string): ProxyBackend => {
    const key = `${method}\0${name}`;
    let b = cache.get(key);
    if (!b) {
      b = new ProxyBackend(endpointOf(name, fallback, what), method, opts);
      cache.set(key, b);
      backends.push(b);
    }
    return b;
  };

  if (setup.connect) sb.onConnecting(connectProxy(backend('default', setup.connect, 'connect', 'connect'), opts));
  if (setup.refresh) sb.onRefresh(refreshProxy(backend('default', setup.refresh, 'refresh', 'refresh'), opts));

  const subscribe = new Map<string, (ctx: SubscribeContext) => Promise<void>>();
  const publish = new Map<string, (ctx: PublishContext) => Promise<boolean>>();
  const subRefresh = new Map<string, ReturnType<typeof subRefreshProxy>>();
  for (const [ns, p] of Object.entries(setup.namespaces ?? {})) {
    if (p.subscribe !== undefined) {
      const b = backend(p.subscribe, setup.subscribe, 'subscribe', `namespace "${ns}" subscribe`);
      subscribe.set(ns, subscribeProxy(b, { ...opts, serverRefresh: p.subRefresh !== undefined }));
    }
    if (p.publish !== undefined) publish.set(ns, publishProxy(backend(p.publish, setup.publish, 'publish', `namespace "${ns}" publish`), opts));
    if (p.subRefresh !== undefined) subRefresh.set(ns, subRefreshProxy(backend(p.subRefresh, setup.subRefresh, 'sub_refresh', `namespace "${ns}" sub_refresh`), opts));
  }
  // Namespaces without a proxy: the handler does nothing and the namespace's rules decide.
  if (subscribe.size > 0) sb.onSubscribe((ctx) => subscribe.get(namespaceOf(ctx.channel))?.(ctx));
  if (publish.size > 0) sb.onPublish((ctx) => publish.get(namespaceOf(ctx.channel))?.(ctx));
  if (subRefresh.size > 0) {
    sb.onSubRefresh((ctx) => {
      const h = subRefresh.get(namespaceOf(ctx.channel));
      return h ? h(ctx) : { expired: true };
    });
  }

  const rpcNs = setup.rpcNamespaces ?? {};
  const rpc = new Map<string, (ctx: RpcContext) => Promise<unknown>>();
  for (const [ns, o] of Object.entries(rpcNs)) {
    if (o.proxy !== undefined) rpc.set(ns, rpcProxy(backend(o.proxy, setup.rpc, 'rpc', `RPC namespace "${ns}"`), opts));
  }
  if (rpc.size > 0) {
    const boundary = setup.rpcNamespaceBoundary ?? ':';
    sb.rpc('*', (ctx) => {
      const i = ctx.method.indexOf(boundary);
      const ns = i < 0 ? '' : ctx.method.slice(0, i);
      // Centrifugo: an unknown RPC namespace is 104 method not found, one without a proxy 108 not available.
      if (!(ns in rpcNs)) throw new ReplyError(Errors.methodNotFound);
      const h = rpc.get(ns);
      if (!h) throw new ReplyError(Errors.notAvailable);
      return h(ctx);
    });
  }
  return {
    close() {
      for (const b of backends) b.close();
    },
  };
}
