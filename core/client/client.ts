/**
 * The KafkaJS-shaped client over any Broker: `producer()`, `consumer()`, `admin()`.
 * The same object comes from openLog (in process), openBrowserLog (Web Worker) and connect (HTTP).
 */
import { createLogger, type Logger } from './consumer/logger.ts'
import type { Broker } from '../broker.ts'
import type { Bytes, RecordBytes } from './messages.ts'
import type { Deserializers, Serializers } from './serializers.ts'
import { Admin } from './admin.ts'
import { Consumer, type ConsumerConfig } from './consumer.ts'
import { Producer, type ProducerConfig } from './producer.ts'
import { SyncClient } from './sync-client.ts'

export interface ClientOptions {
  clientId?: string
  /** The storage's preferred batch size: producers split sends at it by default. */
  preferredBatchBytes?: number
  /** Browser extras surfaced through the admin client. */
  storageEstimate?: () => Promise<unknown>
  persist?: () => Promise<boolean>
  /** Called by close() after clients are disconnected (closes the broker or the connection). */
  onClose?: () => Promise<void>
}

export class EdgelogClient {
  readonly clientId: string
  private readonly clients = new Set<{ disconnect(): Promise<void> }>()
  #sync: SyncClient | undefined
  #logger: Logger | undefined

  constructor(readonly broker: Broker, private readonly options: ClientOptions = {}) {
    this.clientId = options.clientId ?? 'edgelog'
  }

  /**
   * With `serializers`, sends take what they serialize (`V`, `K`), else strings or bytes. (The
   * plain form is last, so `ReturnType<typeof log.producer>` is the plain Producer.)
   */
  producer<V = Bytes, K = Bytes>(config: ProducerConfig<V, K> & { serializers: Serializers<V, K> }): Producer<V, K>
  producer(config?: ProducerConfig): Producer
  producer<V = Bytes, K = Bytes>(config: ProducerConfig<V, K> = {}): Producer<V, K> {
    const producer = new Producer<V, K>(this.broker, config, this.options.preferredBatchBytes)
    producer.clientId = this.clientId
    this.clients.add(producer)
    return producer
  }

  /** With `deserializers`, messages carry what they return (`V`, `K`), else RecordBytes. */
  consumer<V = RecordBytes, K = RecordBytes>(config: ConsumerConfig<V, K> & { deserializers: Deserializers<V, K> }): Consumer<V, K>
  consumer(config?: ConsumerConfig): Consumer
  consumer<V = RecordBytes, K = RecordBytes>(config: ConsumerConfig<V, K> = {}): Consumer<V, K> {
    const consumer = new Consumer<V, K>(this.broker, config, this.clientId)
    this.clients.add(consumer)
    return consumer
  }

  /** The sync of a log that follows a leader (a browser log opened with `remote`). */
  get sync(): SyncClient {
    return (this.#sync ??= new SyncClient(this.broker))
  }

  /** KafkaJS's kafka.logger(): the client's root Logger. */
  logger(): Logger {
    return (this.#logger ??= createLogger())
  }

  admin(): Admin {
    return new Admin(this.broker, { storageEstimate: this.options.storageEstimate, persist: this.options.persist })
  }

  /** Disconnects every producer and consumer made here, then closes the log. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.clients].map((c) => c.disconnect()))
    this.clients.clear()
    await (this.options.onClose ? this.options.onClose() : this.broker.close())
  }
}

export function createClient(broker: Broker, options?: ClientOptions): EdgelogClient {
  return new EdgelogClient(broker, options)
}
