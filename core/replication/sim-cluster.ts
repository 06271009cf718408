/**
 * A replicated cluster in one JavaScript realm, for tests and benchmarks: N brokers, each a
 * `ReplicaNode` over its own storage (one memory store per broker in the tests), a controller
 * over its own, all talking through a `SimNetwork` that can stop brokers, cut links and slow
 * them. The protocol code is the same that will run in Durable Objects; only the transport and
 * the storage differ. `client()` gives a `ClusterBroker` for the KafkaJS-shaped client.
 */
import { EdgelogError } from '../errors.ts'
import { resolveLogSettings, type LogSettings } from '../config.ts'
import type { StorageAdapter } from '../storage.ts'
import { GroupCoordinator } from '../groups/coordinator.ts'
import { randomId } from '../log/topic-registry.ts'
import { Controller } from './controller.ts'
import { ReplicaNode } from './node.ts'
import { ClusterBroker, type ClusterServices } from './cluster-broker.ts'
import { SimNetwork, brokerNode, CONTROLLER_NODE } from './sim-network.ts'
import type { ReplicaSettings } from './replica.ts'
import type { BrokerId, ReplicationEvent } from './types.ts'

export interface SimClusterOptions {
  brokers: number
  /** A fresh store per broker (and one for the controller); it outlives the broker's restarts. */
  createStorage: () => StorageAdapter
  /** broker.rack per broker id (KIP-392). */
  racks?: string[]
  settings?: Partial<LogSettings>
  replica?: Partial<ReplicaSettings>
  /** The controller's heartbeat period and broker session timeout (Kafka: 2000 and 9000 ms). */
  heartbeatMs?: number
  sessionTimeoutMs?: number
  /** Leaders' ISR check period (default: replica.lag.time.max.ms / 2). */
  tickMs?: number
}

export class SimCluster {
  /** Everything replication reported, in order: elections, ISR changes, truncations, losses. */
  readonly events: ReplicationEvent[] = []
  readonly services: ClusterServices
  private readonly listeners = new Set<(event: ReplicationEvent) => void>()
  private readonly nodes = new Map<BrokerId, ReplicaNode>()

  private constructor(
    private readonly options: SimClusterOptions,
    readonly network: SimNetwork,
    readonly controller: Controller,
    private readonly storages: StorageAdapter[],
    private readonly replicaSettings: ReplicaSettings,
    controllerStorage: StorageAdapter,
    settings: LogSettings,
  ) {
    let producerIds: Promise<number> = Promise.resolve(0)
    this.services = {
      clusterId: randomId(),
      controller,
      racks: new Map((options.racks ?? []).map((rack, id) => [id, rack])),
      groups: new GroupCoordinator({
        storage: controllerStorage, settings, now: Date.now,
        topicPartitions: async (names) => {
          const counts: Record<string, number> = {}
          for (const name of names) {
            const topic = await controller.topics.get(name)
            if (topic) counts[name] = topic.partitions
          }
          return counts
        },
        listTopics: async () => (await controller.topics.list()).map((t) => t.name),
        highWatermark: async (topic, partition) => {
          const record = await controller.topics.get(topic)
          const a = record && controller.assignmentsOf(record.topicId)[partition]
          if (!a || a.leader < 0) return -1
          return (await this.network.transport(CONTROLLER_NODE).broker(a.leader).status({ topicId: a.topicId, partition }).catch(() => undefined))?.highWatermark ?? -1
        },
      }),
      // Serialised: one id per call, stored before it is handed out.
      nextProducerId: () => {
        producerIds = producerIds.catch(() => 0).then(async () => {
          const next = (await controllerStorage.getMeta<number>('producer-ids')) ?? 0
          await controllerStorage.commit({ meta: [{ key: 'producer-ids', value: next + 1 }], durability: 'strict' })
          return next
        })
        return producerIds
      },
    }
  }

  static async start(options: SimClusterOptions): Promise<SimCluster> {
    const settings = resolveLogSettings(options.settings)
    const replicaSettings: ReplicaSettings = {
      replicaLagTimeMaxMs: settings['replica.lag.time.max.ms'], fetchMaxWaitMs: 500, fetchMaxBytes: 1 << 20, fetchBackoffMs: 1000,
      ...options.replica,
    }
    const ids = Array.from({ length: options.brokers }, (_, i) => i)
    const storages = ids.map(() => options.createStorage())
    const controllerStorage = options.createStorage()
    let cluster: SimCluster | undefined
    const events = (event: ReplicationEvent) => cluster?.emit(event)
    const network = new SimNetwork()
    const controller = await Controller.open({
      storage: controllerStorage, transport: network.transport(CONTROLLER_NODE), brokers: ids, settings, events,
      heartbeatMs: options.heartbeatMs, sessionTimeoutMs: options.sessionTimeoutMs,
    })
    cluster = new SimCluster(options, network, controller, storages, replicaSettings, controllerStorage, settings)
    network.start(CONTROLLER_NODE, controller)
    for (const id of ids) cluster.startBroker(id)
    await controller.tick()
    return cluster
  }

  /** A client connection (its own node on the network) with the given client.rack. */
  client(options: { name?: string; rack?: string; produceTimeoutMs?: number } = {}): ClusterBroker {
    return new ClusterBroker({
      services: this.services, transport: this.network.transport(`client:${options.name ?? 'client'}`), rack: options.rack,
      produceTimeoutMs: options.produceTimeoutMs,
    })
  }

  node(id: BrokerId): ReplicaNode | undefined { return this.nodes.get(id) }
  storage(id: BrokerId): StorageAdapter { return this.storages[id] }
  get brokerIds(): BrokerId[] { return this.storages.map((_, i) => i) }
  isRunning(id: BrokerId): boolean { return this.nodes.has(id) }

  /** The broker stops: unreachable at once, its replicas closed; its storage stays. */
  async stop(id: BrokerId): Promise<void> {
    const node = this.nodes.get(id)
    if (!node) return
    this.network.stop(brokerNode(id))
    this.nodes.delete(id)
    await node.close()
  }

  /** Starts a stopped broker over its storage; the controller tells it its replicas' roles. */
  async restart(id: BrokerId): Promise<void> {
    if (this.nodes.has(id)) return
    this.startBroker(id)
    await this.controller.tick()
  }

  /** Cuts (or heals) the link between two brokers, or a broker and the controller ('controller'). */
  cut(a: BrokerId | 'controller', b: BrokerId | 'controller'): void { this.network.cut(nodeName(a), nodeName(b)) }
  heal(a: BrokerId | 'controller', b: BrokerId | 'controller'): void { this.network.heal(nodeName(a), nodeName(b)) }
  slow(a: BrokerId | 'controller', b: BrokerId | 'controller', ms: number): void { this.network.slow(nodeName(a), nodeName(b), ms) }

  /** Resolves once `predicate` holds (checked every few ms), or rejects after `timeoutMs`. */
  async until(predicate: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = 'the cluster to settle'): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!(await predicate())) {
      if (Date.now() > deadline) throw new EdgelogError('REQUEST_TIMED_OUT', `Timed out waiting for ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }

  onEvent(listener: (event: ReplicationEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  async close(): Promise<void> {
    this.controller.close()
    await Promise.all([...this.nodes.keys()].map((id) => this.stop(id)))
  }

  private startBroker(id: BrokerId): void {
    const node = new ReplicaNode({
      id, storage: this.storages[id], transport: this.network.transport(brokerNode(id)), settings: this.replicaSettings,
      events: (event) => this.emit(event), tickMs: this.options.tickMs,
    })
    this.nodes.set(id, node)
    this.network.start(brokerNode(id), node)
  }

  private emit(event: ReplicationEvent): void {
    this.events.push(event)
    for (const listener of this.listeners) listener(event)
  }
}

function nodeName(n: BrokerId | 'controller'): string {
  return n === 'controller' ? CONTROLLER_NODE : brokerNode(n)
}
