import { ArgumentMetadata, ValidationError, ValidationPipe, ValidationPipeOptions } from '@nestjs/common';
import { ValidateIf } from 'class-validator';
import { ApiError } from './api-error';
import { NOPE } from './fast-validation';

const TYPE_RULES = new Set(['isString', 'isInt', 'isNumber', 'isBoolean', 'isArray', 'isObject', 'isIn', 'isEnum', 'isUrl', 'nestedValidation', 'isDefined', 'isNotEmpty']);

function firstProblem(errors: ValidationError[], prefix = ''): { param: string; message: string } {
  for (const e of errors) {
    const path = prefix ? `${prefix}.${e.property}` : e.property;
    if (e.constraints) {
      // A wrong type is the rule that failed first, whatever order the decorators ran in
      // (`system: 123` is "must be a string", not "must be shorter than ...").
      const keys = Object.keys(e.constraints);
      const key = keys.find((k) => TYPE_RULES.has(k)) ?? keys[0];
      return { param: path, message: (key && e.constraints[key]) || `${path} is invalid` };
    }
    if (e.children?.length) return firstProblem(e.children, path);
  }
  return { param: prefix || 'body', message: 'The request is invalid.' };
}

/** Hand-written checks of request bodies by DTO class (see fast-validation.ts): the instance, or NOPE. */
export type FastBodyChecks = ReadonlyMap<abstract new () => object, (v: unknown) => unknown>;

/** The ValidationPipe, except that a body of a DTO with a fast check that accepts it skips class-validator. */
class ApiValidationPipe extends ValidationPipe {
  constructor(options: ValidationPipeOptions, private readonly fast: FastBodyChecks) {
    super(options);
  }

  override transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    // What ValidationPipe returns for these without validating: a custom decorator's value (the account,
    // a header) as it is, a string route parameter as String(value).
    if (metadata.type === 'custom' || (metadata.type === 'param' && metadata.metatype === String && typeof value === 'string')) return Promise.resolve(value);
    const check = metadata.type === 'body' && metadata.metatype ? this.fast.get(metadata.metatype as abstract new () => object) : undefined;
    if (check) {
      const dto = check(value);
      if (dto !== NOPE) return Promise.resolve(dto);
    }
    return super.transform(value, metadata);
  }
}

/** Whitelisting pipe whose failures name the offending field, in the OpenAI error shape. */
export function apiValidationPipe(fast: FastBodyChecks = new Map()): ValidationPipe {
  return new ApiValidationPipe(
    {
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      transformOptions: { enableImplicitConversion: false },
      // All of a field's failed rules are collected, so the type rule can be named first (see firstProblem).
      stopAtFirstError: false,
      exceptionFactory: (errors) => {
        const { param, message } = firstProblem(errors);
        return new ApiError('invalid_request', message, param);
      },
    },
    fast,
  );
}

/**
 * May be left out, but not sent as null: the field's other rules then run on the null and name the
 * rule (`@IsOptional()` would let a null through to a NOT NULL column).
 */
export function IsOmittable(): PropertyDecorator {
  return ValidateIf((_o: object, v: unknown) => v !== undefined);
}
