/**
 * Replication (docs/replication.md): Kafka's leader/follower protocol over an abstract
 * transport, a simulated cluster to run it in one realm, and the Broker protocol over it.
 */
export { SimCluster, type SimClusterOptions } from './sim-cluster.ts'
export { SimNetwork } from './sim-network.ts'
export { ClusterBroker, type ClusterBrokerOptions, type ClusterServices } from './cluster-broker.ts'
export { Controller, type ControllerOptions } from './controller.ts'
export { ReplicaNode, type ReplicaNodeOptions } from './node.ts'
export { PartitionReplica, type ReplicaSettings } from './replica.ts'
export { LeaderEpochCache, type EpochEntry, type ReplicationCheckpoint } from './epoch-cache.ts'
export type * from './types.ts'
