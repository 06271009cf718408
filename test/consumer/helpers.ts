/** Shared set-up for the consumer tests: a log in memory, producers, and a broker that can be cut off. */
import { openLog, createClient, EdgelogError, type Broker, type Consumer, type ConsumerConfig, type EdgelogClient } from '../../core/index.ts'
import { MemoryStorage } from '../../adapters/memory/index.ts'

/** Waits until `check` holds (polling every 5 ms); fails after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * Quick group timings: heartbeats every 30 ms, long polls of 50 ms, and sessions of 1 s — long
 * enough that a starved event loop on a loaded 2-core CI machine does not expire a live member.
 */
export const FAST: ConsumerConfig = { heartbeatInterval: 30, sessionTimeout: 1_000, rebalanceTimeout: 3_000, maxWaitTimeInMs: 50 }

/**
 * A broker in front of the real one that can be cut: 'hang' (a process that died: requests
 * never answer) or 'fail' (a network partition: requests fail with NETWORK_EXCEPTION).
 */
export class CuttableBroker {
  mode: 'ok' | 'hang' | 'fail' = 'ok'
  readonly calls = new Map<string, number>()
  readonly broker: Broker
  constructor(inner: Broker) {
    this.broker = new Proxy(inner, {
      get: (target, name, receiver) => {
        const value = Reflect.get(target, name, receiver)
        if (typeof value !== 'function') return value
        return (...args: unknown[]) => {
          this.calls.set(String(name), (this.calls.get(String(name)) ?? 0) + 1)
          if (this.mode === 'hang') return new Promise(() => {})
          if (this.mode === 'fail') return Promise.reject(new EdgelogError('NETWORK_EXCEPTION', 'cut off'))
          // An answer arriving after the cut is lost too (a long poll parked before it).
          const answer = (cut: () => Promise<unknown>) => (this.mode === 'ok' ? undefined : cut())
          return (value.apply(target, args) as Promise<unknown>).then(
            (v) => answer(() => (this.mode === 'hang' ? new Promise(() => {}) : Promise.reject(new EdgelogError('NETWORK_EXCEPTION', 'cut off')))) ?? v,
            (e) => answer(() => (this.mode === 'hang' ? new Promise(() => {}) : Promise.reject(new EdgelogError('NETWORK_EXCEPTION', 'cut off')))) ?? Promise.reject(e),
          )
        }
      },
    }) as Broker
  }
  count(name: string): number { return this.calls.get(name) ?? 0 }
}

export interface World {
  log: EdgelogClient
  /** A consumer on its own connection to the log (so that it can be cut off alone). */
  consumer(config: ConsumerConfig): { consumer: Consumer; link: CuttableBroker }
  produce(topic: string, partition: number, count: number, prefix?: string): Promise<void>
  committed(groupId: string, topic: string): Promise<Record<number, number>>
  close(): Promise<void>
}

export async function world(topics: Record<string, number>, options: { now?: () => number; settings?: Record<string, unknown> } = {}): Promise<World> {
  const log = await openLog({ storage: new MemoryStorage(), now: options.now, settings: options.settings as never })
  const admin = log.admin()
  await admin.createTopics({ topics: Object.entries(topics).map(([topic, numPartitions]) => ({ topic, numPartitions })) })
  const producer = log.producer()
  const consumers: Consumer[] = []
  const sent = new Map<string, number>()
  return {
    log,
    consumer(config) {
      const link = new CuttableBroker(log.broker)
      const consumer = createClient(link.broker, { clientId: 'test' }).consumer(config)
      consumers.push(consumer)
      return { consumer, link }
    },
    async produce(topic, partition, count, prefix = 'm') {
      const key = `${topic}/${partition}`
      const start = sent.get(key) ?? 0
      sent.set(key, start + count)
      const messages = Array.from({ length: count }, (_, i) => ({ value: `${prefix}-${partition}-${start + i}`, partition }))
      for (let i = 0; i < messages.length; i += 500) await producer.send({ topic, messages: messages.slice(i, i + 500) })
    },
    async committed(groupId, topic) {
      const [t] = await admin.fetchOffsets({ groupId, topics: [topic] })
      return Object.fromEntries(t.partitions.map((p) => [p.partition, Number(p.offset)]))
    },
    async close() {
      // A consumer cut off ('hang') never finishes leaving: do not wait for it for long.
      await Promise.race([Promise.allSettled(consumers.map((c) => c.disconnect())), sleep(1_000)])
      await log.close()
    },
  }
}
