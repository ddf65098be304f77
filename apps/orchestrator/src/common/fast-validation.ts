/**
 * Helpers for hand-written checks of hot request bodies. A check accepts only what the class-validator
 * rules of its DTO accept, and builds what class-transformer would build (the DTO instances, plain copies
 * of free-form objects); on anything else it gives up (returns NOPE) and the ValidationPipe validates as
 * before, so every error still comes from class-validator.
 */
export const NOPE: unique symbol = Symbol('nope');
export type Nope = typeof NOPE;

/**
 * Keys that the ValidationPipe strips (`__proto__`, `constructor`, `prototype`) or class-transformer skips
 * (names of Object.prototype members): a body holding one goes the slow way.
 */
const SPECIAL_KEYS = new Set([...Object.getOwnPropertyNames(Object.prototype), 'prototype']);

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Each item through `f`; NOPE as soon as one is NOPE. */
function mapOrNope(items: unknown[], f: (v: unknown) => unknown): unknown {
  const out: unknown[] = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const c = f(items[i]);
    if (c === NOPE) return NOPE;
    out[i] = c;
  }
  return out;
}

/** class-transformer's copy of a parsed JSON value without a @Type (new objects and arrays, same key order). */
export function copyJson(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return mapOrNope(v, copyJson);
  if (Object.getPrototypeOf(v) !== Object.prototype) return NOPE;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    if (SPECIAL_KEYS.has(k)) return NOPE;
    const c = copyJson((v as Record<string, unknown>)[k]);
    if (c === NOPE) return NOPE;
    out[k] = c;
  }
  return out;
}

/** One property's check: the value it stores on the instance, or NOPE. */
export type FieldCheck = (v: unknown) => unknown;

/**
 * A DTO check from one check per property: the object has only those properties (forbidNonWhitelisted),
 * each passes, and the instance is built as class-transformer builds it (`new Dto()`, then the body's keys in order).
 */
export function dtoCheck<T extends object>(Dto: new () => T, fields: Record<string, FieldCheck>, required: string[] = []): (v: unknown) => T | Nope {
  const checks = new Map(Object.entries(fields));
  return (v) => {
    if (!isPlainObject(v) || Object.getPrototypeOf(v) !== Object.prototype) return NOPE;
    for (const r of required) if (!(r in v)) return NOPE;
    const out = new Dto() as Record<string, unknown>;
    for (const k of Object.keys(v)) {
      const check = checks.get(k);
      if (!check) return NOPE;
      const c = check(v[k]);
      if (c === NOPE) return NOPE;
      out[k] = c;
    }
    return out as T;
  };
}

// Property checks mirroring class-validator's rules. A string's length is compared with `.length`, which
// is never less than the length MaxLength counts (validator.js counts a surrogate pair as one).

type Rule = (v: unknown) => boolean;

/** `@IsOptional()`: null and undefined pass (and are kept), anything else must pass `check`. */
export function optional(check: FieldCheck): FieldCheck {
  return (v) => (v === null || v === undefined ? v : check(v));
}

/** Rules on a value stored as it is (a primitive) or copied (an object without @Type). */
export function value(...rules: Rule[]): FieldCheck {
  return (v) => {
    for (const r of rules) if (!r(v)) return NOPE;
    return copyJson(v);
  };
}

export const str = (max: number, notEmpty = false): Rule => (v) => typeof v === 'string' && v.length <= max && (!notEmpty || v.length > 0);
export const bool: Rule = (v) => typeof v === 'boolean';
export const int = (min = -Infinity, max = Infinity): Rule => (v) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
export const num = (min: number, max: number): Rule => (v) => typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;
export const oneOf = (values: readonly unknown[]): Rule => (v) => values.includes(v);
export const object: Rule = isPlainObject;
export const array: Rule = Array.isArray;

/** `@IsObject() @ValidateNested() @Type(() => Dto)`. */
export function nested(check: (v: unknown) => unknown): FieldCheck {
  return (v) => (isPlainObject(v) ? check(v) : NOPE);
}

/** `@IsArray() @ArrayMinSize(min) @ArrayMaxSize(max) @ValidateNested({ each: true }) @Type(() => Dto)`. */
export function nestedArray(check: (v: unknown) => unknown, min: number, max: number): FieldCheck {
  return (v) => {
    if (!Array.isArray(v) || v.length < min || v.length > max) return NOPE;
    return mapOrNope(v, check);
  };
}
