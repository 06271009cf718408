/**
 * The KafkaJS-shaped client over any Broker: `producer()`, `consumer()`, `admin()`.
 * The same object comes from openLog (in process), openBrowserLog (Web Worker) and connect (HTTP).
 */
import type { Broker } from '../broker.ts'
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

  constructor(readonly broker: Broker, private readonly options: ClientOptions = {}) {
    this.clientId = options.clientId ?? 'edgelog'
  }

  producer(config: ProducerConfig = {}): Producer {
    const producer = new Producer(this.broker, config, this.options.preferredBatchBytes)
    this.clients.add(producer)
    return producer
  }

  consumer(config: ConsumerConfig = {}): Consumer {
    const consumer = new Consumer(this.broker, config, this.clientId)
    this.clients.add(consumer)
    return consumer
  }

  /** The sync of a log that follows a leader (a browser log opened with `remote`). */
  get sync(): SyncClient {
    return (this.#sync ??= new SyncClient(this.broker))
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
