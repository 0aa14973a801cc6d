// The Databricks side that ARM can create: an Access Connector whose system-assigned identity Unity Catalog
// uses (as a storage credential) to read the staged files, and a premium workspace — created here, or an
// existing one referenced by resource id. The storage credential, external location and grants are Unity
// Catalog objects, not ARM resources: the post-provision hook prints the commands for them.

@description('Name of the Access Connector for Azure Databricks.')
param accessConnectorName string

@description('Name of the workspace to create when no existing one is given.')
param workspaceName string

@description('Resource id of an existing Azure Databricks workspace to use. Empty: create a premium workspace.')
param existingWorkspaceId string = ''

@description('Azure region.')
param location string

@description('Tags for the resources.')
param tags object = {}

var createWorkspace = empty(existingWorkspaceId)

// The segment after `key` in a resource id, keys compared without case. A missing key or segment gives a
// value the check below refuses.
func segmentAfter(id string, key string) string => split(id, '/')[?indexOf(split(toLower(id), '/'), key) + 1] ?? ''

// An existing workspace's id, /subscriptions/{id}/resourceGroups/{name}/providers/Microsoft.Databricks/workspaces/{name}:
// each part is read after the segment that names it, not at a fixed position, and the id must be the one
// resourceId() builds from those parts. Anything else fails the deployment with a message naming the parameter.
var existingWorkspace = {
  subscriptionId: segmentAfter(existingWorkspaceId, 'subscriptions')
  resourceGroupName: segmentAfter(existingWorkspaceId, 'resourcegroups')
  name: segmentAfter(existingWorkspaceId, 'workspaces')
}
var existingIdIsWorkspace = createWorkspace ? false : toLower(existingWorkspaceId) == toLower(resourceId(existingWorkspace.subscriptionId, existingWorkspace.resourceGroupName, 'Microsoft.Databricks/workspaces', existingWorkspace.name))

resource accessConnector 'Microsoft.Databricks/accessConnectors@2024-05-01' = {
  name: accessConnectorName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {}
}

resource newWorkspace 'Microsoft.Databricks/workspaces@2024-05-01' = if (createWorkspace) {
  name: workspaceName
  location: location
  tags: tags
  sku: {
    // Unity Catalog needs premium.
    name: 'premium'
  }
  properties: {
    managedResourceGroupId: subscriptionResourceId('Microsoft.Resources/resourceGroups', 'databricks-rg-${workspaceName}')
  }
}

resource referencedWorkspace 'Microsoft.Databricks/workspaces@2024-05-01' existing = if (!createWorkspace) {
  name: createWorkspace ? workspaceName : existingIdIsWorkspace ? existingWorkspace.name : fail('existingDatabricksWorkspaceId "${existingWorkspaceId}" is not the resource id of an Azure Databricks workspace: /subscriptions/{subscription id}/resourceGroups/{resource group}/providers/Microsoft.Databricks/workspaces/{name}')
  scope: resourceGroup(createWorkspace ? subscription().subscriptionId : existingWorkspace.subscriptionId, createWorkspace ? resourceGroup().name : existingWorkspace.resourceGroupName)
}

output accessConnectorId string = accessConnector.id
output accessConnectorPrincipalId string = accessConnector.identity.principalId
// The workspace host name, e.g. adb-1234567890123456.7.azuredatabricks.net (no scheme).
output workspaceHost string = createWorkspace ? newWorkspace.properties.workspaceUrl : referencedWorkspace.properties.workspaceUrl
output workspaceId string = createWorkspace ? newWorkspace.id : referencedWorkspace.id
