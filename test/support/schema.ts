/**
 * The Dagger engine's API schema (dagger-schema.graphqls, a copy of the one Dagger publishes), as the
 * stand-in engine's ground truth: every query the SDK sends must validate against it, and every answer
 * must have the type the schema declares for its leaf field, as a real engine would ensure.
 */
import { readFileSync } from "node:fs";
import {
  BREAK,
  buildSchema,
  extendSchema,
  getNamedType,
  isEnumType,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  Kind,
  parse,
  TypeInfo,
  validate,
  visit,
  visitWithTypeInfo,
  type ASTNode,
  type DocumentNode,
  type GraphQLOutputType,
  type GraphQLSchema,
} from "graphql";

const SCHEMA_FILE = new URL("./dagger-schema.graphqls", import.meta.url);
const SDL = readFileSync(SCHEMA_FILE, "utf8");

/** The header line of the schema copy, naming its source, tag and license. */
export const SCHEMA_HEADER = SDL.slice(0, SDL.indexOf("\n"));

/** The Dagger release the schema copy comes from (`v0.21.8`), read from its header line. */
export const SCHEMA_TAG = /\bat tag (v\d+\.\d+\.\d+)\b/.exec(SCHEMA_HEADER)?.[1] ?? "(no tag in the schema's header line)";

/**
 * How far the schema's patch release may lag behind the engine's: Dagger does not publish the schema of
 * every release, so the closest published one before it stands in (v0.21.8 for the pinned v0.21.9).
 */
export const MAX_PATCH_LAG = 1;

/**
 * Why a schema of release `schemaTag` does not describe the engine `engineVersion` (both `vMAJOR.MINOR.PATCH`),
 * or undefined when it does: same MAJOR.MINOR, and a patch at most MAX_PATCH_LAG behind (never ahead,
 * where it could accept what the engine refuses).
 */
export function schemaDrift(engineVersion: string, schemaTag: string): string | undefined {
  const [engine, schema] = [engineVersion, schemaTag].map((v) => /^v(\d+)\.(\d+)\.(\d+)$/.exec(v)?.slice(1).map(Number));
  const lag = engine && schema && engine[0] === schema[0] && engine[1] === schema[1] ? engine[2]! - schema[2]! : undefined;
  if (lag !== undefined && lag >= 0 && lag <= MAX_PATCH_LAG) return undefined;
  return (
    `dagger.json pins engineVersion ${engineVersion}, but test/support/dagger-schema.graphqls is the schema of ${schemaTag} ` +
    `(required: the same MAJOR.MINOR, a patch at most ${MAX_PATCH_LAG} behind). Fetch the schema of the new tag ` +
    `(dagger/dagger docs/docs-graphql/schema.graphqls at ${engineVersion}, or the closest published tag before it) ` +
    `and replace the file, with its header line naming the tag and commit.`
  );
}

/**
 * The schema a client of this SDK sees. Dagger's published schema is the current view; an engine of
 * v0.21.x also shows clients before v0.22.0 a `<Type>ID` scalar and a `load<Type>FromID(id:)` root field
 * for every object and interface with an ID (core/schema/legacy_id.go at v0.21.8), which the SDK can call.
 */
function clientSchema(published: GraphQLSchema): GraphQLSchema {
  const idable = Object.values(published.getTypeMap()).filter(
    (t) => (isObjectType(t) || isInterfaceType(t)) && !t.name.startsWith("_") && !["Query", "Node"].includes(t.name) && "id" in t.getFields(),
  );
  const legacy = idable.map((t) => `scalar ${t.name}ID\nextend type Query { load${t.name}FromID(id: ${t.name}ID!): ${t.name}! }`);
  return extendSchema(published, parse(legacy.join("\n")));
}

/** The engine's schema, built once. */
const ENGINE_SCHEMA = clientSchema(buildSchema(SDL));

/** What the schema refuses in a query: graphql's message, and how many fields deep it points (0: the query). */
export interface SchemaError {
  depth: number;
  message: string;
}

/** A query checked against the schema. */
export interface CheckedQuery {
  errors: SchemaError[];
  /** The declared type of the leaf field, when the query is valid. */
  leafType?: GraphQLOutputType;
}

/**
 * Valid queries by shape (the text with its strings emptied): whether a query validates, and its leaf's
 * type, do not depend on what its strings say, and the SDK sends the same shapes again and again.
 */
const checked = new Map<string, CheckedQuery>();

/** Validates a query (its text and its parsed document) and finds its leaf's declared type, through `node(id:)` fragments too. */
export function checkQuery(query: string, document: DocumentNode): CheckedQuery {
  const shape = query.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const known = checked.get(shape);
  if (known) return known;
  const result = validated(document);
  if (result.errors.length === 0) checked.set(shape, result); // graphql's messages may quote the strings
  return result;
}

function validated(document: DocumentNode): CheckedQuery {
  const errors = validate(ENGINE_SCHEMA, document).map((e) => ({ depth: fieldDepth(document, e.nodes?.[0]), message: e.message }));
  if (errors.length > 0) return { errors };
  const typeInfo = new TypeInfo(ENGINE_SCHEMA);
  let leafType: GraphQLOutputType | undefined;
  visit(document, visitWithTypeInfo(typeInfo, { Field: (node) => void (node.selectionSet || (leafType = typeInfo.getType() ?? undefined)) }));
  return { errors, leafType };
}

/** How many fields deep a node of the query is: 1 for the root field or its arguments, and so on. */
function fieldDepth(document: DocumentNode, target: ASTNode | undefined): number {
  let depth = 0;
  visit(document, {
    enter(node, _key, _parent, _path, ancestors) {
      if (node !== target) return undefined;
      depth = [...ancestors, node].filter((a) => !Array.isArray(a) && (a as ASTNode).kind === Kind.FIELD).length;
      return BREAK;
    },
  });
  return depth;
}

/** The name of the type a field of a type returns (`Container`, `Directory`, `String`), if the schema has the field. */
export function fieldTypeName(typeName: string, field: string): string | undefined {
  const type = ENGINE_SCHEMA.getType(typeName);
  return isObjectType(type) || isInterfaceType(type) ? (type.getFields()[field] && getNamedType(type.getFields()[field]!.type).name) : undefined;
}

/**
 * What is wrong with an answer to a leaf of this declared type, or undefined: `declared Int!, scripted "0"
 * (string)`. Without a value, an answer stands for the object's ID, which only an ID field answers.
 */
export function answerMismatch(type: GraphQLOutputType, value: unknown, how: string): string | undefined {
  if (value === undefined) return /ID$/.test(getNamedType(type).name) ? undefined : `declared ${type}, ${how} no value (which answers the object's ID)`;
  return conforms(type, value) ? undefined : `declared ${type}, ${how} ${describeValue(value)}`;
}

/** Whether a value is what a field of this type answers on the wire. */
function conforms(type: GraphQLOutputType, value: unknown): boolean {
  if (isNonNullType(type)) return (value !== null || getNamedType(type).name === "Void") && conforms(type.ofType, value);
  if (value === null) return true;
  if (isListType(type)) return Array.isArray(value) && value.every((item) => conforms(type.ofType, item));
  if (isEnumType(type)) return typeof value === "string" && type.getValue(value) !== undefined;
  switch (getNamedType(type).name) {
    case "Int":
      return Number.isInteger(value) && (value as number) >= -(2 ** 31) && (value as number) < 2 ** 31;
    case "Float":
      return Number.isFinite(value);
    case "Boolean":
      return typeof value === "boolean";
    case "Void":
      return false; // the engine answers a Void field with null only
    default:
      return typeof value === "string"; // String, ID, and Dagger's custom scalars: <Type>ID, JSON (serialized), Platform
  }
}

/** A value as a message shows it: JSON, shortened, and its JavaScript type. */
function describeValue(value: unknown): string {
  const json = JSON.stringify(value) ?? String(value);
  const kind = value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
  return `${json.length > 80 ? `${json.slice(0, 60)}…` : json} (${kind})`;
}
