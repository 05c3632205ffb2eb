/**
 * Feature switches (pure definitions). Each of the product's three systems can be switched off
 * for one company (PUT /v1/company/features); a company without its own setting gets the
 * deployment's default (FEATURE_POLICIES, FEATURE_CALLBACKS, FEATURE_NOTIFICATIONS, on unless set).
 */
export const FEATURES = ['policies', 'callbacks', 'notifications'] as const;
export type Feature = (typeof FEATURES)[number];

/** On or off per feature. */
export type FeatureDefaults = Record<Feature, boolean>;
export const ALL_FEATURES_ON: FeatureDefaults = { policies: true, callbacks: true, notifications: true };

/** The error code of a refusal, and the reason written on a notification suppressed because notifications are off. */
export const FEATURE_DISABLED = 'feature_disabled';

/** A company's own settings: null (or absent) means the default. */
export type FeatureOverrides = Partial<Record<Feature, boolean | null>>;

/** One feature of one company: whether it is on, the company's own setting, and the default it would otherwise get. */
export interface FeatureState {
  enabled: boolean;
  override: boolean | null;
  default: boolean;
}

export function featureStates(overrides: FeatureOverrides | undefined, defaults: FeatureDefaults): Record<Feature, FeatureState> {
  const state = (f: Feature): FeatureState => {
    const override = overrides?.[f] ?? null;
    return { enabled: override ?? defaults[f], override, default: defaults[f] };
  };
  return { policies: state('policies'), callbacks: state('callbacks'), notifications: state('notifications') };
}
