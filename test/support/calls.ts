/**
 * The call chains the Dagger SDK sends, as values: `container.from(address:"alpine").withExec(args:[…])`.
 * An object passed as an argument arrives as an ID this engine handed out; IDs are digests of the chain
 * they stand for, so the same chain always gets the same ID and an ID expands back to its whole chain.
 */
import { createHash } from "node:crypto";
import { Kind, type DocumentNode, type FieldNode, type SelectionNode, type SelectionSetNode, type ValueNode } from "graphql";
import { fieldTypeName } from "./schema.js";

/** A GraphQL enum value (`sharing: LOCKED`), kept apart from strings. */
export class EnumValue {
  constructor(readonly name: string) {}
}

/** An argument value; a `Call` is an object passed by ID. */
export type ArgValue = string | number | boolean | null | EnumValue | Call | ArgValue[] | { [key: string]: ArgValue };

/** One field of a chain, with its arguments and the chain it was selected on. */
export class Call {
  /** The name of the GraphQL type this field returns, as the engine's schema declares it, or "?" for a field it lacks. */
  readonly type: string;

  constructor(
    readonly field: string,
    readonly args: Readonly<Record<string, ArgValue>>,
    readonly parent: Call | undefined,
    type?: string,
  ) {
    const parentType = parent?.type ?? "Query";
    this.type = type ?? fieldTypeName(parentType, field) ?? "?";
  }

  /** The whole chain, every argument in full and objects expanded: the form scripts and assertions match. */
  get text(): string {
    return render(this, false);
  }

  /** The chain for people: long strings shortened to their start and size. */
  get display(): string {
    return render(this, true);
  }

  /** The calls from the root to this one. */
  get path(): Call[] {
    return this.parent ? [...this.parent.path, this] : [this];
  }

  /** The nearest call of this name on the chain, this one included. */
  nearest(field: string): Call | undefined {
    return this.field === field ? this : this.parent?.nearest(field);
  }
}

function render(call: Call, short: boolean): string {
  const args = Object.entries(call.args).map(([name, value]) => `${name}:${renderValue(value, short)}`);
  const self = args.length > 0 ? `${call.field}(${args.join(",")})` : call.field;
  return call.parent ? `${render(call.parent, short)}.${self}` : self;
}

function renderValue(value: ArgValue, short: boolean): string {
  if (value instanceof Call) return `<${render(value, short)}>`;
  if (value instanceof EnumValue) return value.name;
  if (Array.isArray(value)) return `[${value.map((v) => renderValue(v, short)).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.entries(value).map(([k, v]) => `${k}:${renderValue(v, short)}`).join(",")}}`;
  }
  if (short && typeof value === "string" && value.length > 120) {
    return `${JSON.stringify(value.slice(0, 40))}…(${Buffer.byteLength(value)} bytes)`;
  }
  return JSON.stringify(value);
}

/** Hands out IDs for chains and expands them back. */
export class IdRegistry {
  private readonly calls = new Map<string, Call>();

  /** The ID of a chain: a digest of its text, so the same chain always gets the same ID. */
  idOf(call: Call): string {
    const id = `standin:${createHash("sha256").update(call.text).digest("hex").slice(0, 24)}`;
    this.calls.set(id, call);
    return id;
  }

  /** The chain an ID stands for. Throws for an ID this engine never handed out. */
  resolve(id: string): Call {
    const call = this.calls.get(id);
    if (!call) throw new Error(`unknown ID ${JSON.stringify(id)}: the stand-in engine never handed it out`);
    return call;
  }

  isId(value: string): boolean {
    return value.startsWith("standin:");
  }
}

/** A parsed query: the chain down to its leaf, and each level's call and response key (to nest the answer). */
export interface ParsedQuery {
  leaf: Call;
  /** The call each field of the query selects, from the root field down: `node(id:)` selects the ID's chain. */
  levels: Call[];
  keys: string[];
}

/** Reads one SDK query (one field per level) as a chain, expanding IDs and `node`/`load…FromID` loaders. */
export function parseQuery(document: DocumentNode, ids: IdRegistry): ParsedQuery {
  const operation = document.definitions[0];
  if (operation?.kind !== Kind.OPERATION_DEFINITION) throw new Error("expected one query operation");
  const keys: string[] = [];
  const levels: Call[] = [];
  let call: Call | undefined;
  let selections: SelectionSetNode | undefined = operation.selectionSet;
  let fragmentType: string | undefined;
  while (selections) {
    if (selections.selections.length !== 1) throw new Error(`expected one field per level, got ${selections.selections.length}`);
    const selection: SelectionNode = selections.selections[0]!;
    if (selection.kind === Kind.INLINE_FRAGMENT) {
      fragmentType = selection.typeCondition?.name.value;
      selections = selection.selectionSet;
      continue;
    }
    if (selection.kind !== Kind.FIELD) throw new Error(`unexpected ${selection.kind} in a query`);
    keys.push(selection.alias?.value ?? selection.name.value);
    call = selectField(selection, call, fragmentType, ids);
    levels.push(call);
    fragmentType = undefined;
    selections = selection.selectionSet;
  }
  if (!call) throw new Error("empty query");
  return { leaf: call, levels, keys };
}

function selectField(field: FieldNode, parent: Call | undefined, parentType: string | undefined, ids: IdRegistry): Call {
  const name = field.name.value;
  const args = Object.fromEntries((field.arguments ?? []).map((arg) => [arg.name.value, toValue(arg.value, ids)]));
  const loader = /^load(\w+)FromID$/.exec(name);
  if (!parent && (name === "node" || loader) && args.id instanceof Call) return args.id;
  const typedParent = parent && parentType && parent.type !== parentType ? new Call(parent.field, parent.args, parent.parent, parentType) : parent;
  return new Call(name, args, typedParent);
}

function toValue(node: ValueNode, ids: IdRegistry): ArgValue {
  switch (node.kind) {
    case Kind.STRING:
      return ids.isId(node.value) ? ids.resolve(node.value) : node.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(node.value);
    case Kind.BOOLEAN:
      return node.value;
    case Kind.NULL:
      return null;
    case Kind.ENUM:
      return new EnumValue(node.value);
    case Kind.LIST:
      return node.values.map((v) => toValue(v, ids));
    case Kind.OBJECT:
      return Object.fromEntries(node.fields.map((f) => [f.name.value, toValue(f.value, ids)]));
    case Kind.VARIABLE:
      throw new Error("the SDK sends no variables");
  }
}
