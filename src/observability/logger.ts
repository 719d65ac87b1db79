import { pino, type DestinationStream, type Logger } from 'pino';
import type { Config } from '../config.js';

export type { Logger } from 'pino';

/**
 * Where secrets sit in what we log. Request bodies are never logged, and URLs are logged
 * with token-like query values replaced (see redactUrl), so what remains are headers:
 * every header that carries a token, the session cookie and the CSRF token. Top-level and
 * one-level-deep `token` fields cover anything a caller passes to the logger by mistake.
 */
export const REDACTED_PATHS = [
  'req.headers["private-token"]',
  'req.headers["build-token"]',
  'req.headers["job-token"]',
  'req.headers["runner-token"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  'token',
  '*.token',
  'password',
  '*.password',
];

/**
 * The process's logger: JSON lines on stdout at LOG_LEVEL, or pino-pretty's readable
 * lines with LOG_FORMAT=pretty (pino-pretty is a development dependency). A test passes
 * its own destination to capture the lines.
 */
export function createLogger(config: Pick<Config, 'logLevel' | 'logFormat'>, destination?: DestinationStream): Logger {
  const options = {
    level: config.logLevel,
    redact: { paths: REDACTED_PATHS, censor: '[Redacted]' },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (destination) return pino(options, destination);
  if (config.logFormat === 'pretty') {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid' } } });
  }
  return pino(options);
}

/** Query parameters whose values are secrets wherever they appear. */
const SECRET_PARAMETER = /token|password|secret/i;

/** A request URL fit for a log: the value of every token-like query parameter replaced. */
export function redactUrl(url: string): string {
  const queryStart = url.indexOf('?');
  if (queryStart === -1) return url;
  const params = url
    .slice(queryStart + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq === -1 ? pair : pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        // A malformed escape is logged as it came; only its value is at stake.
      }
      return eq !== -1 && SECRET_PARAMETER.test(decoded) ? `${name}=[Redacted]` : pair;
    });
  return `${url.slice(0, queryStart)}?${params.join('&')}`;
}

/**
 * The old `log(line)` of AppDeps, kept for the modules that report a line of text:
 * lines that start with `error` go out at error level, the rest at info.
 */
export function lineLogger(logger: Logger): (line: string) => void {
  return (line) => {
    if (/^error\b/.test(line)) logger.error(line);
    else logger.info(line);
  };
}
