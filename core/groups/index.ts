export { GroupCoordinator, DEFAULT_ASSIGNORS, DEFAULT_REBALANCE_TIMEOUT_MS, OFFSET_METADATA_MAX_BYTES } from './coordinator.ts'
export type { GroupCoordinatorOptions, OffsetRecord } from './coordinator.ts'
export type { GroupRecord, MemberRecord, MemberState, PartitionMap } from './group-state.ts'
export * from './assignors/index.ts'
