/** The schema registry: Confluent's API over the log, Avro and JSON Schema, the wire format. See docs/schemas.md. */
export { SchemaRegistry, parseVersion, checkSubject, type SubjectVersion, type SchemaById, type CompatibilityResult, type SchemaRegistryOptions } from './registry.ts'
export { SchemaStore, RegistryState, SCHEMAS_TOPIC, REGISTRY_PRODUCER_ID, type StoredVersion } from './store.ts'
export { SchemaRegistryError, isSchemaRegistryError, SCHEMA_ERRORS, type SchemaErrorCode } from './errors.ts'
export {
  parseSchema, checkCompatibility, readable, compatibilityLevelOf, schemaTypeOf, COMPATIBILITY_LEVELS, DEFAULT_COMPATIBILITY, SCHEMA_TYPES,
  type CompatibilityLevel, type SchemaType, type SchemaInput, type SchemaReference, type ParsedSchema,
} from './schema-types.ts'
export { parseAvro, avroReadable, type AvroType, type Incompatibility } from './avro.ts'
export { avroEncode, avroDecode, avroIsValid } from './avro-codec.ts'
export { parseJsonSchema, jsonSchemaErrors, jsonSchemaReadable, type JsonSchema } from './json-schema.ts'
export { SchemaSerde, encodeWireFormat, decodeWireFormat, encodeWith, decodeWith, topicNameStrategy, MAGIC_BYTE, type SchemaSource, type SerdeOptions, type SerializerOptions, type EncodeTarget } from './serde.ts'
export type { Serializer, Deserializer, Serializers, Deserializers, SerializerContext, DeserializerContext } from '../client/serializers.ts'
export { RegistryClient, REGISTRY_CONTENT_TYPE, type RegistryClientOptions } from './client.ts'
