// Alerts and a workbook over the one line each finished window or backfill unit logs:
// `bnt.run.finished {json}` (src/pipeline/summary.ts). The queries live in ../queries/*.kql, so the tests can
// check that they parse that line the way the code writes it.

@description('Azure region of the alert rules and the workbook.')
param location string

@description('Resource id of the Application Insights component the queries run against (table `traces`).')
param appInsightsId string

@description('Email address that receives the alerts. Empty: the action group has no receiver.')
param alertEmail string

@description('Datasets the weekly timer runs.')
param datasets array

@description('Day of week of the weekly run (0 = Sunday, 1 = Monday, ...), UTC.')
param scheduleDayOfWeek int

@description('Hour of the weekly run, UTC.')
param scheduleHourUtc int

@description('Whether the weekly timer runs; the missed-run alert is off when it does not.')
param scheduleEnabled bool

@description('Suffix that makes the names unique in the resource group.')
param nameSuffix string

@description('Tags for the resources.')
param tags object = {}

var emailReceivers = empty(alertEmail) ? [] : [
  {
    name: 'pipeline-owner'
    emailAddress: alertEmail
    useCommonAlertSchema: true
  }
]

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-bnt-${nameSuffix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'bnt-alerts'
    enabled: true
    emailReceivers: emailReceivers
  }
}

resource windowFailed 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'bnt-window-failed-${nameSuffix}'
  location: location
  tags: tags
  kind: 'LogAlert'
  // The rule runs its query as this identity (Reader on the component, roles.bicep), not as whoever last
  // edited it.
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    displayName: 'BNT pipeline: a window failed'
    description: 'A window or backfill unit ended with status "failed". The error kind and message are in the query results; the Durable instance id leads to the run.'
    severity: 1
    enabled: true
    scopes: [
      appInsightsId
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT1H'
    criteria: {
      allOf: [
        {
          query: loadTextContent('../queries/failed-window.kql')
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'dataset'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

// The prelude binds the deployment's datasets and schedule for ../queries/missed-weekly-run.kql.
var missedRunPrelude = 'let expectedDatasets = dynamic(${string(datasets)});\nlet scheduleDayOfWeek = ${scheduleDayOfWeek}d;\nlet scheduleHourUtc = ${scheduleHourUtc}h;\n'

resource weeklyRunMissing 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'bnt-weekly-run-missing-${nameSuffix}'
  location: location
  tags: tags
  kind: 'LogAlert'
  // The rule runs its query as this identity (Reader on the component, roles.bicep), not as whoever last
  // edited it.
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    displayName: 'BNT pipeline: no finished weekly run'
    description: 'A dataset has no run of its week that completed (or came back stale) within 23 hours of the due time: the timer did not fire, or every attempt failed. Fired once per dataset and week, for the day after; it resolves when that day is over.'
    severity: 2
    enabled: scheduleEnabled
    scopes: [
      appInsightsId
    ]
    // Checked hourly over the last two days of logs (the most a log alert reads). The query gives every
    // evaluation in the day after a week's deadline the same answer for that week (missed-weekly-run.kql), and
    // the rule is stateful with the week's due time as a dimension: the first of those evaluations fires, and
    // one that runs late or twice finds the alert already fired (test/infra/alerts.test.ts plays timelines).
    evaluationFrequency: 'PT1H'
    windowSize: 'PT1H'
    overrideQueryTimeRange: 'P2D'
    criteria: {
      allOf: [
        {
          query: '${missedRunPrelude}${loadTextContent('../queries/missed-weekly-run.kql')}'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'dataset'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'dueAt'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource staleSource 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'bnt-stale-source-${nameSuffix}'
  location: location
  tags: tags
  kind: 'LogAlert'
  // The rule runs its query as this identity (Reader on the component, roles.bicep), not as whoever last
  // edited it.
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    displayName: 'BNT pipeline: stale source (no rows loaded)'
    description: 'A run loaded nothing: status "stale" (the source has nothing as new as the window), or "completed" with zero rows in the window. The query results show the newest date the source has.'
    severity: 3
    enabled: true
    scopes: [
      appInsightsId
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT1H'
    criteria: {
      allOf: [
        {
          query: loadTextContent('../queries/stale-source.kql')
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'dataset'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

// Workbook items: a text header, a time range picker, the recent runs table and the rows-per-week chart.
var timeRangeParameter = {
  id: 'b7f2d6a4-3c1e-4d8a-9f5b-2e6c0a1d4f37'
  version: 'KqlParameterItem/1.0'
  name: 'TimeRange'
  label: 'Runs finished in'
  type: 4
  isRequired: true
  value: {
    durationMs: 2592000000
  }
  typeSettings: {
    selectableValues: [
      {
        durationMs: 604800000
      }
      {
        durationMs: 2592000000
      }
      {
        durationMs: 7776000000
      }
    ]
    allowCustom: true
  }
}

var workbookContent = {
  version: 'Notebook/1.0'
  items: [
    {
      type: 1
      name: 'intro'
      content: {
        json: '## BNT hourly traffic pipeline\nOne row per dataset and window: the latest run of it, from the `bnt.run.finished` line each finished window or backfill unit logs. `rowsInWindow` is the number of rows the table holds for the window after the load. For a run in progress, ask the app: `GET /api/runs/{instanceId}`.'
      }
    }
    {
      type: 9
      name: 'parameters'
      content: {
        version: 'KqlParameterItem/1.0'
        parameters: [
          timeRangeParameter
        ]
        style: 'pills'
        queryType: 0
        resourceType: 'microsoft.insights/components'
      }
    }
    {
      type: 3
      name: 'recent-runs'
      content: {
        version: 'KqlItem/1.0'
        title: 'Recent runs per dataset and window'
        query: loadTextContent('../queries/workbook-recent-runs.kql')
        size: 0
        timeContextFromParameter: 'TimeRange'
        queryType: 0
        resourceType: 'microsoft.insights/components'
        visualization: 'table'
      }
    }
    {
      type: 3
      name: 'rows-per-week'
      content: {
        version: 'KqlItem/1.0'
        title: 'Rows in the table per week (by window start)'
        query: loadTextContent('../queries/workbook-rows-per-week.kql')
        size: 0
        timeContextFromParameter: 'TimeRange'
        queryType: 0
        resourceType: 'microsoft.insights/components'
        visualization: 'timechart'
      }
    }
  ]
  fallbackResourceIds: [
    appInsightsId
  ]
}

resource runsWorkbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  // A workbook's name must be a GUID; this one is stable per resource group and suffix.
  name: guid(resourceGroup().id, 'bnt-runs-workbook', nameSuffix)
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'BNT pipeline runs'
    category: 'workbook'
    sourceId: appInsightsId
    version: 'Notebook/1.0'
    serializedData: string(workbookContent)
  }
}

output actionGroupId string = actionGroup.id
// The rules' identities, for their Reader role on the component they query (roles.bicep).
output rulePrincipalIds array = [
  windowFailed.identity.principalId
  weeklyRunMissing.identity.principalId
  staleSource.identity.principalId
]
output workbookId string = runsWorkbook.id
