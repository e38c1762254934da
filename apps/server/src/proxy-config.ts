/**
 * Centrifugo v6's proxy configuration, key for key: `client.proxy.connect` / `.refresh` (with
 * `enabled`), `channel.proxy.subscribe` / `.publish` / `.sub_refresh` (`default` for namespaces),
 * the top-level named `proxies`, the namespaces' `*_proxy_enabled` / `*_proxy_name`, and `rpc`
 * (its `proxy`, `without_namespace`, `namespaces`, `namespace_boundary`). The server turns them
 * into the library's `ProxySetup` (docs/proxy.md).
 */
import { duration, flag, integer, section, stringMap, strings, text, z } from '@switchboard/config';
import type { NamespaceProxies, ProxyEndpoint, ProxySetup } from '@switchboard/server';

/** Centrifugo's unified TLS object, accepted so configurations load; only `enabled: false` is supported. */
const tlsSection = section({
  enabled: flag().default(false),
  cert_pem: text().optional(),
  cert_pem_file: text().optional(),
  key_pem: text().optional(),
  key_pem_file: text().optional(),
  server_ca_pem: text().optional(),
  server_ca_pem_file: text().optional(),
  client_ca_pem: text().optional(),
  client_ca_pem_file: text().optional(),
  insecure_skip_verify: flag().optional(),
  server_name: text().optional(),
});

const statusTransform = z.strictObject({
  status_code: integer({ max: 599, example: 403 }),
  to_error: z.strictObject({ code: integer({ example: 403 }), message: text().default(''), temporary: flag().default(false) }).optional(),
  to_disconnect: z.strictObject({ code: integer({ example: 4503 }), reason: text().default('') }).optional(),
});

/** The proxy object shared by every proxy kind (Centrifugo's `Proxy`). */
export const proxyFields = {
  endpoint: text().default(''),
  timeout: duration().prefault('1s'),
  http_headers: strings('["Cookie", "Authorization"]').default([]),
  emulated_headers: strings('["Authorization"]').default([]),
  grpc_metadata: strings('["authorization"]').default([]),
  binary_encoding: flag().default(false),
  include_connection_meta: flag().default(false),
  http: section({
    tls: tlsSection,
    static_headers: stringMap({ want: 'an object of header name → value', example: '{"X-Api-Key": "secret"}' }).default({}),
    status_to_code_transforms: z.array(statusTransform).default([]),
  }),
  grpc: section({
    tls: tlsSection,
    credentials_key: text().default(''),
    credentials_value: text().default(''),
    compression: flag().default(false),
    static_metadata: stringMap({ want: 'an object of metadata key → value', example: '{"x-api-key": "secret"}' }).default({}),
  }),
};

const proxyObject = section(proxyFields);

/** `client.proxy`. */
export const clientProxySection = section({
  connect: section({ enabled: flag().default(false), ...proxyFields }),
  refresh: section({ enabled: flag().default(false), ...proxyFields }),
});

/** `channel.proxy`: the proxies namespaces call `default`. */
export const channelProxySection = section({
  subscribe: proxyObject,
  publish: proxyObject,
  sub_refresh: proxyObject,
  subscribe_stream: proxyObject,
});

/** Top-level `proxies`: named proxy objects. */
export const proxiesSchema = z.array(z.strictObject({ name: text().default(''), ...proxyFields })).default([]);

/** The proxy keys of a channel namespace (and of `channel.without_namespace`). */
export const namespaceProxyKeys = {
  subscribe_proxy_enabled: flag().optional(),
  subscribe_proxy_name: text().optional(),
  publish_proxy_enabled: flag().optional(),
  publish_proxy_name: text().optional(),
  sub_refresh_proxy_enabled: flag().optional(),
  sub_refresh_proxy_name: text().optional(),
  subscribe_stream_proxy_enabled: flag().optional(),
  subscribe_stream_proxy_name: text().optional(),
  subscribe_stream_proxy_bidirectional: flag().optional(),
};

const rpcOptions = { proxy_enabled: flag().default(false), proxy_name: text().default('default') };

/** `rpc`. */
export const rpcSection = section({
  proxy: proxyObject,
  without_namespace: section(rpcOptions),
  namespaces: z.array(z.strictObject({ name: text().default(''), ...rpcOptions })).default([]),
  namespace_boundary: text().default(':'),
  ping: section({ enabled: flag().default(false), method: text().default('ping') }),
});

type ProxyObject = z.output<typeof proxyObject>;
type NamespaceKeys = { [K in keyof typeof namespaceProxyKeys]?: z.output<(typeof namespaceProxyKeys)[K]> };

export interface ProxyConfigInput {
  proxies: z.output<typeof proxiesSchema>;
  client: { proxy: z.output<typeof clientProxySection> };
  channel: { proxy: z.output<typeof channelProxySection>; without_namespace: NamespaceKeys; namespaces: (NamespaceKeys & { name?: string | undefined })[] };
  rpc: z.output<typeof rpcSection>;
}

function endpointOf(p: ProxyObject): ProxyEndpoint {
  const e: ProxyEndpoint = { endpoint: p.endpoint, timeoutMs: p.timeout };
  if (p.http_headers.length > 0) e.httpHeaders = p.http_headers;
  if (p.emulated_headers.length > 0) e.emulatedHeaders = p.emulated_headers;
  if (p.grpc_metadata.length > 0) e.grpcMetadata = p.grpc_metadata;
  if (p.binary_encoding) e.binaryEncoding = true;
  if (p.include_connection_meta) e.includeConnectionMeta = true;
  if (Object.keys(p.http.static_headers).length > 0) e.staticHeaders = p.http.static_headers;
  if (p.http.status_to_code_transforms.length > 0) {
    e.statusToCodeTransforms = p.http.status_to_code_transforms.map((t) => ({
      statusCode: t.status_code,
      ...(t.to_error ? { toError: { code: t.to_error.code, message: t.to_error.message, temporary: t.to_error.temporary } } : {}),
      ...(t.to_disconnect ? { toDisconnect: { code: t.to_disconnect.code, reason: t.to_disconnect.reason } } : {}),
    }));
  }
  const g = p.grpc;
  if (g.credentials_key || g.compression || Object.keys(g.static_metadata).length > 0) {
    e.grpc = {
      ...(g.credentials_key ? { credentialsKey: g.credentials_key, credentialsValue: g.credentials_value } : {}),
      ...(g.compression ? { compression: true } : {}),
      ...(Object.keys(g.static_metadata).length > 0 ? { staticMetadata: g.static_metadata } : {}),
    };
  }
  return e;
}

const hasEndpoint = (p: ProxyObject) => p.endpoint !== '';

/** The library's proxy setup for a validated configuration (undefined: no proxy configured). */
export function proxySetupOf(c: ProxyConfigInput): ProxySetup | undefined {
  const setup: ProxySetup = {};
  const cp = c.client.proxy;
  if (cp.connect.enabled) setup.connect = endpointOf(cp.connect);
  if (cp.refresh.enabled) setup.refresh = endpointOf(cp.refresh);
  const ch = c.channel.proxy;
  if (hasEndpoint(ch.subscribe)) setup.subscribe = endpointOf(ch.subscribe);
  if (hasEndpoint(ch.publish)) setup.publish = endpointOf(ch.publish);
  if (hasEndpoint(ch.sub_refresh)) setup.subRefresh = endpointOf(ch.sub_refresh);
  if (hasEndpoint(c.rpc.proxy)) setup.rpc = endpointOf(c.rpc.proxy);
  if (c.proxies.length > 0) setup.named = Object.fromEntries(c.proxies.map((p) => [p.name, endpointOf(p)]));
  const namespaces: Record<string, NamespaceProxies> = {};
  const nsOf = (o: NamespaceKeys): NamespaceProxies | undefined => {
    const n: NamespaceProxies = {};
    if (o.subscribe_proxy_enabled) n.subscribe = o.subscribe_proxy_name || 'default';
    if (o.publish_proxy_enabled) n.publish = o.publish_proxy_name || 'default';
    if (o.sub_refresh_proxy_enabled) n.subRefresh = o.sub_refresh_proxy_name || 'default';
    return Object.keys(n).length > 0 ? n : undefined;
  };
  const top = nsOf(c.channel.without_namespace);
  if (top) namespaces[''] = top;
  for (const ns of c.channel.namespaces) {
    const n = nsOf(ns);
    if (n && ns.name !== undefined) namespaces[ns.name] = n;
  }
  if (Object.keys(namespaces).length > 0) setup.namespaces = namespaces;
  const rpcNs: Record<string, { proxy?: string }> = {};
  const anyRpc = c.rpc.without_namespace.proxy_enabled || c.rpc.namespaces.some((n) => n.proxy_enabled);
  if (anyRpc) {
    rpcNs[''] = c.rpc.without_namespace.proxy_enabled ? { proxy: c.rpc.without_namespace.proxy_name || 'default' } : {};
    for (const n of c.rpc.namespaces) rpcNs[n.name] = n.proxy_enabled ? { proxy: n.proxy_name || 'default' } : {};
    setup.rpcNamespaces = rpcNs;
    setup.rpcNamespaceBoundary = c.rpc.namespace_boundary;
  }
  return Object.keys(setup).length > 0 ? setup : undefined;
}

const NAME = /^[-a-zA-Z0-9_.]{2,}$/;

/** What must hold across the proxy keys: endpoints present and well-formed, names defined, unsupported features off. */
export function checkProxies(c: ProxyConfigInput, report: (key: string, message: string) => void): void {
  const checkEndpoint = (p: ProxyObject, key: string) => {
    if (p.endpoint === '') return report(`${key}.endpoint`, 'required: http://…, https://… or grpc://host:port');
    if (!/^(https?|grpc):\/\//.test(p.endpoint)) report(`${key}.endpoint`, `"${p.endpoint}" is not http://…, https://… or grpc://host:port`);
    if (p.http.tls.enabled || p.grpc.tls.enabled) report(`${key}.${p.http.tls.enabled ? 'http' : 'grpc'}.tls.enabled`, 'TLS options for proxy calls are not supported yet: use an https:// endpoint (system CAs) or a TLS-terminating sidecar');
  };
  const names = new Set<string>();
  c.proxies.forEach((p, i) => {
    const key = `proxies[${i}]`;
    if (!NAME.test(p.name)) report(`${key}.name`, 'required: 2 or more of a-z A-Z 0-9 - _ .');
    else if (p.name === 'default') report(`${key}.name`, '"default" names the proxies of channel.proxy and rpc.proxy: choose another name');
    else if (names.has(p.name)) report(`${key}.name`, `proxy "${p.name}" is defined twice`);
    names.add(p.name);
    checkEndpoint(p, key);
  });
  if (c.client.proxy.connect.enabled) checkEndpoint(c.client.proxy.connect, 'client.proxy.connect');
  if (c.client.proxy.refresh.enabled) checkEndpoint(c.client.proxy.refresh, 'client.proxy.refresh');
  const used = new Set<string>();
  const named = (name: string | undefined, fallback: ProxyObject, fallbackKey: string, key: string) => {
    const n = name || 'default';
    if (n === 'default') {
      if (!used.has(fallbackKey)) {
        used.add(fallbackKey);
        checkEndpoint(fallback, fallbackKey);
      }
    } else if (!names.has(n)) report(key, `proxy "${n}" is not defined in proxies`);
  };
  const checkNs = (o: NamespaceKeys, key: string) => {
    if (o.subscribe_proxy_enabled) named(o.subscribe_proxy_name, c.channel.proxy.subscribe, 'channel.proxy.subscribe', `${key}.subscribe_proxy_name`);
    if (o.publish_proxy_enabled) named(o.publish_proxy_name, c.channel.proxy.publish, 'channel.proxy.publish', `${key}.publish_proxy_name`);
    if (o.sub_refresh_proxy_enabled) named(o.sub_refresh_proxy_name, c.channel.proxy.sub_refresh, 'channel.proxy.sub_refresh', `${key}.sub_refresh_proxy_name`);
    if (o.subscribe_stream_proxy_enabled) report(`${key}.subscribe_stream_proxy_enabled`, 'subscription streams (subscribe_stream proxy) are not supported');
  };
  checkNs(c.channel.without_namespace, 'channel.without_namespace');
  c.channel.namespaces.forEach((ns, i) => checkNs(ns, `channel.namespaces[${i}]`));
  if (c.rpc.without_namespace.proxy_enabled) named(c.rpc.without_namespace.proxy_name, c.rpc.proxy, 'rpc.proxy', 'rpc.without_namespace.proxy_name');
  const rpcNames = new Set<string>();
  c.rpc.namespaces.forEach((n, i) => {
    const key = `rpc.namespaces[${i}]`;
    if (!NAME.test(n.name)) report(`${key}.name`, 'required: 2 or more of a-z A-Z 0-9 - _ .');
    else if (rpcNames.has(n.name)) report(`${key}.name`, `RPC namespace "${n.name}" is defined twice`);
    rpcNames.add(n.name);
    if (n.proxy_enabled) named(n.proxy_name, c.rpc.proxy, 'rpc.proxy', `${key}.proxy_name`);
  });
  if (c.rpc.namespace_boundary === '') report('rpc.namespace_boundary', 'must not be empty');
  if (c.rpc.ping.enabled) report('rpc.ping.enabled', 'the built-in RPC ping method is not supported');
}
