export * from './bytes.ts'
export * from './crc32c.ts'
export * from './compression.ts'
export * from './record-batch.ts'
