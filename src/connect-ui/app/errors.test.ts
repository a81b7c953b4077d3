import { describe, expect, it } from 'vitest';
import { describeError, normalizeFieldName, parseApiError } from './errors.ts';

const FIELDS = ['client_id', 'client_secret', 'endpointURL', 'identityURL'];
const secretError = {
  error: {
    code: 'invalid_client_secret',
    message: 'Marketo refused the Client Secret for this Client ID.',
    step: 'identity',
    hint: 'Copy the Client Secret again from Admin > Integration > LaunchPoint, then View Details on your service.',
  },
};

describe('parseApiError', () => {
  it("reads Tether's error envelope", () => {
    expect(parseApiError(400, secretError)).toEqual({ status: 400, ...secretError.error });
  });

  it('copes with other shapes', () => {
    expect(parseApiError(0, undefined)).toEqual({ status: 0, code: 'network_error' });
    expect(parseApiError(502, undefined)).toEqual({
      status: 502,
      code: 'unknown_error',
      message: 'HTTP 502',
    });
    expect(parseApiError(429, {})).toEqual({ status: 429, code: 'too_many_request' });
    expect(parseApiError(400, { error: 'bad' })).toEqual({
      status: 400,
      code: 'unknown_error',
      message: 'bad',
    });
    expect(parseApiError(400, { error: { code: 42, message: '' } })).toEqual({
      status: 400,
      code: 'unknown_error',
      message: 'HTTP 400',
    });
  });
});

describe('describeError', () => {
  it('says which step failed and keeps the server message and hint in English', () => {
    const d = describeError(parseApiError(400, secretError), {
      lang: 'en',
      providerName: 'Marketo',
      fieldNames: FIELDS,
    });
    expect(d).toEqual({
      code: 'invalid_client_secret',
      step: 'identity',
      title: 'Step 1 of 2 failed: getting an access token',
      message: secretError.error.message,
      hint: secretError.error.hint,
      details: null,
      field: 'client_secret',
    });
  });

  it('translates known codes and keeps the server words as details', () => {
    const d = describeError(parseApiError(400, secretError), {
      lang: 'fr',
      providerName: 'Marketo',
      fieldNames: FIELDS,
    });
    expect(d.title).toBe('Étape 1 sur 2 en échec : obtention d’un jeton d’accès');
    expect(d.message).toBe('Le secret client a été refusé pour cet ID client.');
    expect(d.hint).toContain('LaunchPoint');
    expect(d.details).toContain('Marketo refused the Client Secret');
  });

  it('a value refused as too long: in French, a translated message on the named field, the server words as details', () => {
    const tooLong = {
      error: {
        code: 'invalid_body',
        message: 'The Client Secret is too long (more than 4000 characters).',
        step: 'input',
        field: 'client_secret',
        hint: 'Paste only the Client Secret, without anything around it.',
      },
    };
    const fr = describeError(parseApiError(400, tooLong), {
      lang: 'fr',
      providerName: 'Marketo',
      fieldNames: FIELDS,
    });
    expect(fr.message).toBe('Une valeur du formulaire n’est pas acceptée (trop longue, ou d’un autre type).');
    expect(fr.field).toBe('client_secret');
    expect(fr.details).toContain('The Client Secret is too long');
    const en = describeError(parseApiError(400, tooLong), {
      lang: 'en',
      providerName: 'Marketo',
      fieldNames: FIELDS,
    });
    expect(en.message).toBe('The Client Secret is too long (more than 4000 characters).');
    expect(en.details).toBeNull();
  });

  it('infers the step from the code when the server gives none', () => {
    const api = describeError(
      { status: 400, code: 'marketo_permission_missing', message: 'lacks Read-Only Lead' },
      { lang: 'en', providerName: 'Marketo' },
    );
    expect(api.title).toBe('Step 2 of 2 failed: testing access to the Marketo API');
    expect(api.hint).toContain('Read-Only Lead');
    const quota = describeError(
      { status: 400, code: 'marketo_daily_quota_exhausted' },
      { lang: 'en', providerName: 'Marketo' },
    );
    expect(quota.step).toBe('api');
    expect(quota.message).toContain('daily API quota');
    expect(quota.hint).toContain('midnight');
  });

  it('keeps the server step for network codes that happen in either step', () => {
    const d = describeError(
      { status: 400, code: 'host_not_found', step: 'api', message: 'The host x does not exist.' },
      { lang: 'en', providerName: 'Marketo' },
    );
    expect(d.step).toBe('api');
    const noStep = describeError({ status: 400, code: 'timeout' }, { lang: 'en', providerName: 'Marketo' });
    expect(noStep.title).toBe('The connection failed');
  });

  it('attaches input errors to the named field, if it is on the form', () => {
    const onField = describeError(
      {
        status: 400,
        code: 'invalid_url',
        step: 'input',
        message: 'Unexpected path',
        field: 'params.identityURL',
      },
      { lang: 'en', providerName: 'Marketo', fieldNames: FIELDS },
    );
    expect(onField.field).toBe('identityURL');
    expect(onField.title).toBe('Some details are not right');
    const hidden = describeError(
      { status: 400, code: 'invalid_url', field: 'endpointURL' },
      { lang: 'en', providerName: 'Marketo', fieldNames: ['client_id'] },
    );
    expect(hidden.field).toBeNull();
    const byCode = describeError(
      { status: 400, code: 'missing_client_id' },
      { lang: 'en', providerName: 'M' },
    );
    expect(byCode.field).toBe('client_id');
  });

  it('has a generic text for unknown codes, and interpolates client-side details', () => {
    const d = describeError({ status: 500, code: 'something_odd' }, { lang: 'fr', providerName: 'M' });
    expect(d.message).toBe('Une erreur s’est produite.');
    expect(d.hint).toContain('Réessayez');
    const mode = describeError(
      { status: 0, code: 'unsupported_auth_mode', detail: 'OAUTH2' },
      { lang: 'en', providerName: 'M' },
    );
    expect(mode.message).toBe('This form cannot connect integrations of this kind (OAUTH2).');
  });

  it('normalizes field names', () => {
    expect(normalizeFieldName('credentials.client_secret')).toBe('client_secret');
    expect(normalizeFieldName('params[endpointURL]')).toBe('endpointURL');
    expect(normalizeFieldName('connection_config.identityURL')).toBe('identityURL');
    expect(normalizeFieldName('endpointURL')).toBe('endpointURL');
  });
});
