// The training methods beyond any / fixed; importing this module registers them with Trainer.
import './sp';
import './pg';
import './ldp';

export type { SpActivation, SpOptions } from './sp';
export type { PgOptions } from './pg';
export type { LdpOptions } from './ldp';
