/**
 * Patterns for every name that ends up in a URL, a storage path or a SQL statement. One copy each: block
 * schemas, dataset definitions and the warehouses all check against these, so what one accepts the others do.
 */

/** Plain SQL identifiers: they never need quoting, and can never close a quote. */
export const SQL_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Azure storage account names. */
export const STORAGE_ACCOUNT_NAME = /^[a-z0-9]{3,24}$/;

/** Azure blob container names. */
export const CONTAINER_NAME = /^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/;

/** A host name with at least one dot: no scheme, port, path or credentials. */
export const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

/** A Databricks SQL warehouse's HTTP path, or an all-purpose cluster's. */
export const DATABRICKS_HTTP_PATH = /^\/sql\/(?:1\.0\/warehouses\/[A-Za-z0-9]+|protocolv1\/o\/\d+\/[A-Za-z0-9-]+)$/;

/** Dataset names: a path segment of every staged file. */
export const DATASET_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
