import { ValidationError, ValidationPipe } from '@nestjs/common';
import { ApiError } from './api-error';

function firstProblem(errors: ValidationError[], prefix = ''): { param: string; message: string } {
  for (const e of errors) {
    const path = prefix ? `${prefix}.${e.property}` : e.property;
    if (e.constraints) {
      const msgs = Object.values(e.constraints);
      return { param: path, message: msgs[0] ?? `${path} is invalid` };
    }
    if (e.children?.length) return firstProblem(e.children, path);
  }
  return { param: prefix || 'body', message: 'The request is invalid.' };
}

/** Whitelisting pipe whose failures name the offending field, in the OpenAI error shape. */
export function apiValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    stopAtFirstError: true,
    exceptionFactory: (errors) => {
      const { param, message } = firstProblem(errors);
      return new ApiError('invalid_request', message, param);
    },
  });
}
