"""Where minted tokens rest: a rotating KMS key and a bucket that takes only SSE-KMS uploads over TLS."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

SHARD_PREFIX = "tokens/"


class TokenStorage(Construct):
    """KMS key (rotated yearly) + alias, token bucket (versioned, private, TLS-only, SSE-KMS enforced)."""

    def __init__(self, scope: Construct, construct_id: str, *, kms_alias: str, bucket_name: str | None) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description="koipond token shards",
            enable_key_rotation=True,
            # Without the key, every shard in the retained bucket is unreadable.
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.alias = self.key.add_alias(kms_alias)
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=bucket_name,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="tokens-bucket/",
            # Old versions of a shard are old tokens: keep them only as long as a rollback could want them.
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(7))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self._deny_uploads_not_encrypted_with_kms()

    def _deny_uploads_not_encrypted_with_kms(self) -> None:
        """Mirror of ``local_pond.aws.token_bucket_policy`` (TLS-only comes from ``enforce_ssl``)."""
        objects = self.bucket.arn_for_objects("*")
        conditions = {
            "DenyUploadsNotEncryptedWithKms": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}},
            "DenyUploadsWithoutEncryptionHeader": {"Null": {"s3:x-amz-server-side-encryption": "true"}},
        }
        for sid, condition in conditions.items():
            self.bucket.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=sid,
                    effect=iam.Effect.DENY,
                    principals=[iam.AnyPrincipal()],
                    actions=["s3:PutObject"],
                    resources=[objects],
                    conditions=condition,
                )
            )

    def grant_shard_writes(self, grantee: iam.IGrantable) -> None:
        """Put/Head/Get of ``tokens/*`` and the key actions SSE-KMS needs to write and read them."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:GetObject"], resources=[self.bucket.arn_for_objects(SHARD_PREFIX + "*")]
            )
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"], resources=[self.key.key_arn]
            )
        )

    def grant_shard_reads(self, grantee: iam.IGrantable) -> None:
        """Get (and so Head) of ``tokens/*``, and Decrypt only when S3 asks on the reader's behalf (a School)."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[self.bucket.arn_for_objects(SHARD_PREFIX + "*")])
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{Stack.of(self).region}.amazonaws.com"}},
            )
        )
