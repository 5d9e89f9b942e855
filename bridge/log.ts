/** Structured JSON log lines on stderr. Callers pass ids, names, sizes and outcomes: never message bodies or tokens. */
export type Level = 'debug' | 'info' | 'warn' | 'error';
export type Fields = Record<string, string | number | boolean | undefined>;

const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  log(level: Level, msg: string, fields?: Fields): void;
  child(fields: Fields): Logger;
}

export function createLogger(
  minimum: Level = 'info',
  base: Fields = {},
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  return {
    log(level, msg, fields) {
      if (order[level] < order[minimum]) return;
      write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...base, ...fields })}\n`);
    },
    child(fields) {
      return createLogger(minimum, { ...base, ...fields }, write);
    },
  };
}

export function levelFromEnv(value: string | undefined): Level {
  return value === 'debug' || value === 'warn' || value === 'error' ? value : 'info';
}
