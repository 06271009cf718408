/**
 * KafkaJS's Logger (`consumer.logger()`, `admin.logger()`): info / error / warn / debug, a
 * namespace, a level. Entries go to the console as KafkaJS's default log creator writes them, one
 * JSON object per line: `{ level, timestamp, logger: 'edgelog', message, namespace?, ...extra }`.
 */
export const logLevel = { NOTHING: 0, ERROR: 1, WARN: 2, INFO: 4, DEBUG: 5 } as const
export type LogLevel = (typeof logLevel)[keyof typeof logLevel]

export interface Logger {
  info(message: string, extra?: object): void
  error(message: string, extra?: object): void
  warn(message: string, extra?: object): void
  debug(message: string, extra?: object): void
  namespace(namespace: string, level?: LogLevel): Logger
  setLogLevel(level: LogLevel): void
}

const NAMES: Record<number, 'ERROR' | 'WARN' | 'INFO' | 'DEBUG'> = { 1: 'ERROR', 2: 'WARN', 4: 'INFO', 5: 'DEBUG' }

export function createLogger(namespace = '', level: LogLevel = logLevel.INFO): Logger {
  let current: LogLevel = level
  const log = (at: 1 | 2 | 4 | 5) => (message: string, extra: object = {}) => {
    if (at > current) return
    const entry = JSON.stringify({ level: NAMES[at], timestamp: new Date().toISOString(), logger: 'edgelog', message, ...(namespace ? { namespace } : {}), ...extra })
    if (at === 1) console.error(entry)
    else if (at === 2) console.warn(entry)
    else console.info(entry)
  }
  return {
    error: log(logLevel.ERROR), warn: log(logLevel.WARN), info: log(logLevel.INFO), debug: log(logLevel.DEBUG),
    namespace: (ns, nsLevel) => createLogger(ns, nsLevel ?? current),
    setLogLevel: (next) => { current = next },
  }
}
