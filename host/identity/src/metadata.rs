//! `GET /odata/$metadata`: the CSDL (OData 4.0 Common Schema Definition
//! Language, XML) of the Users API — the `Users` and `Roles` entity sets,
//! their entity types with every property the handlers serialize, the
//! `Roles` navigation `$expand` follows, and the two bound actions of
//! seed 004. A test compares it with what the routes answer.
//!
//! It describes the API, nothing of an organization, so it needs no
//! token and is the same under any organization and tenant name.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// Where the document is served: plain, and under seed 004's base path
/// (the same as [`crate::ORCHESTRATOR_BASE`] + `/odata/$metadata`).
pub(crate) const PATHS: &[&str] = &[
    "/odata/$metadata",
    "/{organizationName}/{tenantName}/orchestrator_/odata/$metadata",
];

/// The namespace of seed 004's actions (`UiPath.Server.Configuration.OData.AssignRoles`).
const CSDL: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="UiPath.Server.Configuration.OData" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EnumType Name="UserType">
        <Member Name="User" Value="0"/>
        <Member Name="Robot" Value="1"/>
        <Member Name="DirectoryGroup" Value="2"/>
      </EnumType>
      <EntityType Name="User">
        <Key><PropertyRef Name="Id"/></Key>
        <Property Name="Id" Type="Edm.Int64" Nullable="false"/>
        <Property Name="Key" Type="Edm.Guid" Nullable="false"/>
        <Property Name="UserName" Type="Edm.String" Nullable="false"/>
        <Property Name="Name" Type="Edm.String" Nullable="false"/>
        <Property Name="EmailAddress" Type="Edm.String"/>
        <Property Name="Type" Type="UiPath.Server.Configuration.OData.UserType" Nullable="false"/>
        <Property Name="CultureName" Type="Edm.String"/>
        <Property Name="RolesList" Type="Collection(Edm.String)" Nullable="false"/>
        <NavigationProperty Name="Roles" Type="Collection(UiPath.Server.Configuration.OData.Role)"/>
      </EntityType>
      <EntityType Name="Role">
        <Key><PropertyRef Name="Id"/></Key>
        <Property Name="Id" Type="Edm.Int64" Nullable="false"/>
        <Property Name="Key" Type="Edm.Guid" Nullable="false"/>
        <Property Name="Name" Type="Edm.String" Nullable="false"/>
        <Property Name="DisplayName" Type="Edm.String" Nullable="false"/>
        <Property Name="Permissions" Type="Collection(Edm.String)" Nullable="false"/>
        <Property Name="IsStatic" Type="Edm.Boolean" Nullable="false"/>
      </EntityType>
      <ComplexType Name="RobotProvision">
        <Property Name="UserName" Type="Edm.String" Nullable="false"/>
        <Property Name="RobotType" Type="Edm.String" Nullable="false"/>
        <Property Name="RobotId" Type="Edm.Int64"/>
      </ComplexType>
      <Action Name="ChangeUserCulture" IsBound="true">
        <Parameter Name="bindingParameter" Type="UiPath.Server.Configuration.OData.User"/>
        <Parameter Name="culture" Type="Edm.String" Nullable="false"/>
      </Action>
      <Action Name="AssignRoles" IsBound="true">
        <Parameter Name="bindingParameter" Type="UiPath.Server.Configuration.OData.User"/>
        <Parameter Name="roleIds" Type="Collection(Edm.Int64)" Nullable="false"/>
      </Action>
      <EntityContainer Name="Container">
        <EntitySet Name="Users" EntityType="UiPath.Server.Configuration.OData.User">
          <NavigationPropertyBinding Path="Roles" Target="Roles"/>
        </EntitySet>
        <EntitySet Name="Roles" EntityType="UiPath.Server.Configuration.OData.Role"/>
      </EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>
"#;

/// The document, as `application/xml` with `OData-Version: 4.0`.
pub(crate) async fn document() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml; charset=utf-8"),
            ),
            (
                header::HeaderName::from_static("odata-version"),
                HeaderValue::from_static("4.0"),
            ),
        ],
        CSDL,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_plain_and_under_the_orchestrator_base() {
        assert_eq!(
            PATHS,
            [
                "/odata/$metadata".to_owned(),
                format!("{}/odata/$metadata", crate::ORCHESTRATOR_BASE)
            ]
        );
    }
}
