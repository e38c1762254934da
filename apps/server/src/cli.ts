#!/usr/bin/env node
/**
 * switchboard serve|gentoken|checkconfig|version
 *
 *   switchboard serve [--config FILE] [--port N] [--address A] [--contract FILE]
 *   switchboard gentoken [--config FILE] --user ID [--ttl SECONDS] [--info JSON] [--claims JSON] [--channel CH]...
 *   switchboard checkconfig [--config FILE]
 *   switchboard genconfig [--output FILE]
 *   switchboard version
 *
 * Without --config (or SWITCHBOARD_CONFIG) `serve` runs in development mode on 127.0.0.1:8000:
 * no tokens, no API key, admin page open, demo chat at /. Never use that in production.
 */
import { parseArgs } from 'node:util';
import { ConfigError, developmentConfig, finish, generateConfig, loadConfig, type LoadOptions, type ServerConfig, settings, unknownEnv } from './config.js';
// The server, the library and jose load only for the commands that need them (checkconfig stays quick).

const USAGE = `switchboard: real-time messaging server

usage:
  switchboard serve [--config FILE] [--port N] [--address A] [--contract FILE]
  switchboard gentoken [--config FILE] --user ID [--ttl SECONDS] [--info JSON]
                     [--claims JSON] [--channel CHANNEL]...
      --claims adds claims to the token (e.g. '{"orgs":["7"]}' for trpc:org:7);
      --channel grants a subscription to CHANNEL (a "caps" claim; repeat it for more)
  switchboard checkconfig [--config FILE]
  switchboard genconfig [--output FILE]     (a starting point with fresh random secrets)
  switchboard version

FILE is JSON (Centrifugo v6 layout) or YAML (.yaml/.yml). SWITCHBOARD_CONFIG names it too.
Environment variables override the file: SWITCHBOARD_ + key path, upper case, dots as underscores
(http_api.key -> SWITCHBOARD_HTTP_API_KEY). Without a file, serve runs in development mode.`;

function fail(message: string, code = 1): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

function configError(err: unknown, file: string | undefined): never {
  if (err instanceof ConfigError) {
    fail(`configuration ${file ? `${file} ` : ''}refused:\n${err.issues.map((i) => `  - ${i.key}: ${i.message}`).join('\n')}`, 2);
  }
  throw err;
}

function readConfig(file: string | undefined, devWhenMissing: boolean, options: LoadOptions = {}): ServerConfig {
  try {
    if (file === undefined && devWhenMissing) return finish(developmentConfig());
    return loadConfig(file, process.env, options);
  } catch (err) {
    return configError(err, file);
  }
}

/** The command's options, typed by parseArgs (a bad one ends with the usage). */
function options(args: string[]) {
  try {
    return parseArgs({
      args,
      options: {
        config: { type: 'string', short: 'c' },
        port: { type: 'string', short: 'p' },
        address: { type: 'string', short: 'a' },
        contract: { type: 'string' },
        user: { type: 'string', short: 'u' },
        ttl: { type: 'string', short: 't' },
        info: { type: 'string' },
        claims: { type: 'string' },
        channel: { type: 'string', multiple: true },
        output: { type: 'string', short: 'o' },
      },
      strict: true,
    }).values;
  } catch (err) {
    return fail(`${(err as Error).message}\n\n${USAGE}`, 2);
  }
}

async function main(argv: string[]): Promise<void> {
  const [command = 'serve', ...rest] = argv;
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const values = options(rest);
  const file = values.config ?? process.env['SWITCHBOARD_CONFIG'];
  switch (command) {
    case 'version': {
      const { VERSION } = await import('@switchboard/server');
      process.stdout.write(`switchboard ${VERSION} (node ${process.version})\n`);
      return;
    }
    case 'checkconfig': {
      const c = readConfig(file, false);
      const s = settings(c);
      for (const name of unknownEnv()) process.stdout.write(`warning: ${name} names no configuration key and is ignored\n`);
      process.stdout.write(`configuration ${file ?? '(environment only)'} is valid: engine ${s.engine.type}, ${Object.keys(s.switchboard.namespaces ?? {}).length} namespace(s)\n`);
      return;
    }
    case 'genconfig': {
      const { randomBytes } = await import('node:crypto');
      const { writeFileSync, existsSync } = await import('node:fs');
      const text = `${JSON.stringify(generateConfig((n) => randomBytes(n).toString('base64url')), null, 2)}\n`;
      const out = values.output;
      if (out === undefined) {
        process.stdout.write(text);
        return;
      }
      if (existsSync(out)) fail(`${out} exists: not overwriting it`, 2);
      writeFileSync(out, text, { mode: 0o600 });
      process.stderr.write(`wrote ${out} (keep it secret: it holds the token secret, the API key and the admin password)\n`);
      return;
    }
    case 'gentoken': {
      const user = values.user;
      if (user === undefined) fail('gentoken needs --user ID (use --user "" for an anonymous token)', 2);
      const ttl = values.ttl === undefined ? 7 * 24 * 3600 : Number(values.ttl);
      if (!Number.isInteger(ttl) || ttl < 0) fail('--ttl must be a whole number of seconds (0: no expiry)', 2);
      // gentoken needs the token secret only: the checks for starting a server (API key, admin
      // password, engine) are not its business.
      const c = readConfig(file, false, { requirements: false });
      const secret = settings(c).hmacSecret;
      if (!secret) {
        fail(
          file === undefined
            ? 'gentoken signs HS256 tokens with the token secret: give the configuration with --config FILE (client.token.hmac_secret_key), or set SWITCHBOARD_CLIENT_TOKEN_HMAC_SECRET_KEY'
            : `client.token.hmac_secret_key is not set in ${file}: gentoken signs HS256 tokens with it (set it there or in SWITCHBOARD_CLIENT_TOKEN_HMAC_SECRET_KEY)`,
          2,
        );
      }
      const claims: Record<string, unknown> = { sub: user };
      if (values.info !== undefined) {
        try {
          claims['info'] = JSON.parse(values.info);
        } catch {
          fail('--info must be JSON', 2);
        }
      }
      if (values.claims !== undefined) {
        let extra: unknown;
        try {
          extra = JSON.parse(values.claims);
        } catch {
          fail(`--claims must be a JSON object, e.g. '{"orgs":["7"]}'`, 2);
        }
        if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) fail(`--claims must be a JSON object, e.g. '{"orgs":["7"]}'`, 2);
        for (const k of ['sub', 'exp', 'iat']) if (k in extra) fail(`--claims must not set "${k}": use --user and --ttl`, 2);
        Object.assign(claims, extra);
      }
      const channels = values.channel ?? [];
      if (channels.length > 0) {
        const caps = Array.isArray(claims['caps']) ? (claims['caps'] as unknown[]) : [];
        claims['caps'] = [...caps, { channels, allow: ['sub'] }];
      }
      const { SignJWT } = await import('jose');
      let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt();
      if (ttl > 0) jwt = jwt.setExpirationTime(Math.floor(Date.now() / 1000) + ttl);
      process.stdout.write(`${await jwt.sign(new TextEncoder().encode(secret))}\n`);
      return;
    }
    case 'serve': {
      const c = readConfig(file, true);
      let port: number | undefined;
      if (values.port !== undefined) {
        port = Number(values.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535) fail('--port must be 0..65535', 2);
      }
      const s = settings(c);
      const { createLogger } = await import('./logger.js');
      const { startServer } = await import('./server.js');
      const log = createLogger(s.logLevel);
      for (const name of unknownEnv()) log.warn({ env: name }, 'environment variable names no configuration key: ignored (SWITCHBOARD_ + key path, dots as underscores)');
      if (file === undefined) log.warn('no configuration file: DEVELOPMENT MODE on 127.0.0.1 (no tokens, no API key, open admin). Use --config FILE in production.');
      let server;
      try {
        const contractFile = values.contract;
        const contract =
          contractFile === undefined ? undefined : await (await import('./contract-file.js')).loadContractFile(contractFile).catch((err: Error) => fail(err.message, 2));
        if (contract) log.info({ file: contractFile, keys: Object.keys(contract) }, 'channel contract loaded: publications on its channels are validated');
        server = await startServer(c, log, {
          ...(port !== undefined ? { port } : {}),
          ...(values.address !== undefined ? { address: values.address } : {}),
          ...(contract ? { contract } : {}),
        });
      } catch (err) {
        if (err instanceof ConfigError) configError(err, file);
        log.fatal({ err }, `cannot start: ${(err as Error).message}`);
        process.exit(1);
      }
      let firstSignalAt = 0;
      const stop = (signal: string) => {
        // Ctrl-C under `npm start` reaches this process twice (from the terminal and forwarded by
        // npm): only a second signal that comes later means "stop waiting".
        if (firstSignalAt > 0) {
          if (Date.now() - firstSignalAt < 1000) return log.debug({ signal }, 'same signal again (forwarded): already draining');
          log.warn({ signal }, 'second signal: exiting now');
          process.exit(1);
        }
        firstSignalAt = Date.now();
        log.info({ signal }, 'signal received');
        // Never hang past the drain timeout, whatever happens.
        setTimeout(() => {
          log.error('shutdown took too long: exiting');
          process.exit(1);
        }, server.settings.shutdownTimeoutMs + 3000).unref();
        server.close().then(
          () => {
            log.flush?.();
            process.exit(0);
          },
          (err: unknown) => {
            log.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      // SIGHUP re-reads pusher.apps_file (Soketi users keep their apps in a table); it never stops the server.
      process.on('SIGHUP', () => {
        if (firstSignalAt === 0) server.reloadPusherApps();
      });
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('uncaughtException', (err) => {
        log.fatal({ err }, 'uncaught exception');
        process.exit(1);
      });
      return;
    }
    default:
      fail(`unknown command "${command}"\n\n${USAGE}`, 2);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
