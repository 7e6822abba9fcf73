// `modelship promote MODEL@ALIAS --to ENV`: which config a promotion releases with, and its refusals (no server).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseModelAlias, promotionConfig } from '../src/client/commands/promote';
import { releaseConfig } from './support/release';

const staged = releaseConfig({
  model_name: 'fbm',
  environments: [
    { name: 'staging', endpoint_name: 'fb-staging', auto_approve_deployment: true },
    { name: 'production', endpoint_name: 'fb-production', required_approvals: 2 },
  ],
});

describe('promote', () => {
  it('reads MODEL@ALIAS and refuses anything else with the form to use', () => {
    assert.deepEqual(parseModelAlias('fbm@staging'), { model: 'fbm', alias: 'staging' });
    assert.throws(() => parseModelAlias('fbm'), /"fbm" is not MODEL@ALIAS\. Fix: .*@staging/);
    assert.throws(() => parseModelAlias('fbm@'), /not MODEL@ALIAS/);
  });

  it('releases the aliased version without training into the environments from --to on', () => {
    const config = promotionConfig(staged, { model: 'fbm', alias: 'staging' }, 'production');
    assert.equal(config.skip_training, true);
    assert.deepEqual(
      config.environments?.map((e) => [e.name, e.endpoint_name, e.required_approvals]),
      [['production', 'fb-production', 2]],
    );
    const single = promotionConfig(releaseConfig({ model_name: 'fbm' }), { model: 'fbm', alias: 'candidate' }, 'production');
    assert.equal(single.environments, undefined);
    assert.equal(single.skip_training, true);
  });

  it('refuses another model, an unknown environment, and a promotion backwards, naming the fix', () => {
    assert.throws(() => promotionConfig(staged, { model: 'other', alias: 'staging' }, 'production'), /the config releases fbm, not other\. Fix: pass the config of other/);
    assert.throws(() => promotionConfig(staged, { model: 'fbm', alias: 'staging' }, 'qa'), /--to qa: the config's environments are staging, production\. Fix/);
    assert.throws(() => promotionConfig(staged, { model: 'fbm', alias: 'production' }, 'staging'), /production does not come before staging \(the order is staging → production\)/);
    assert.throws(() => promotionConfig(releaseConfig({ model_name: 'fbm' }), { model: 'fbm', alias: 'x' }, 'staging'), /no environments, so the only one is production/);
  });
});
