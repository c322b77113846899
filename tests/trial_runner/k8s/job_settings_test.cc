#include "trial_runner/k8s/job_settings.h"

#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace hpt::runner::k8s {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr char kNameRule[] =
    "must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', starting and ending "
    "with a letter or digit, at most 253 characters)";
constexpr char kQueueRule[] =
    "must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', starting and ending "
    "with a letter or digit, at most 63 characters)";

json MinimalJob() {
  return json::parse(R"({
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "t-1", "labels": {"app": "x"}},
    "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}],
                                   "restartPolicy": "Never"}}}
  })");
}

JobSettings AllSet() {
  return JobSettings{.priority_class_name = "team-a-high",
                     .active_deadline_seconds = 3600,
                     .backoff_limit = 0,
                     .ttl_seconds_after_finished = 86400,
                     .service_account_name = "trainer",
                     .queue_name = "team-a"};
}

std::string Problem(const JobSettings& s) {
  absl::Status st = ValidateJobSettings(s);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  return std::string(st.message());
}

// ---------------------------------------------------------------------------------------------
// DnsSubdomainProblem

TEST(DnsSubdomainProblemTest, ValidNames) {
  for (const std::string& name : std::vector<std::string>{
           "a", "0", "team-a", "a.b.c", "a-1.b-2", "9abc", std::string(253, 'a'),
           std::string(63, 'a') + "." + std::string(63, 'b')}) {
    EXPECT_EQ(DnsSubdomainProblem(name), "") << name;
  }
  EXPECT_EQ(DnsSubdomainProblem(std::string(63, 'q'), kMaxLabelValueLength), "");
}

TEST(DnsSubdomainProblemTest, InvalidNames) {
  for (const std::string& name :
       std::vector<std::string>{"", "Team", "team_a", "-a", "a-", ".a", "a.", "a..b", "a-.b",
                                "a.-b", "a b", "a/b", "ä"}) {
    EXPECT_EQ(DnsSubdomainProblem(name), std::string(kNameRule) + ", got \"" + name + "\"") << name;
  }
  EXPECT_EQ(DnsSubdomainProblem(std::string(254, 'a')),
            std::string(kNameRule) + ", got 254 characters");
  EXPECT_EQ(DnsSubdomainProblem(std::string(64, 'a'), kMaxLabelValueLength),
            std::string(kQueueRule) + ", got 64 characters");
}

// ---------------------------------------------------------------------------------------------
// ValidateJobSettings

TEST(IsDnsLabelTest, LabelsAreSubdomainsWithoutDotsOf63CharactersAtMost) {
  for (const std::string& name :
       std::vector<std::string>{"a", "ml", "team-a", "quickstart-00001", std::string(63, 'x')}) {
    EXPECT_TRUE(IsDnsLabel(name)) << name;
  }
  for (const std::string& name :
       std::vector<std::string>{"", "-a", "a-", "Team", "a.b", "a_b", std::string(64, 'x')}) {
    EXPECT_FALSE(IsDnsLabel(name)) << name;
  }
  EXPECT_TRUE(IsDnsLabel(std::string(200, 'x'), 253));
}

TEST(ValidateJobSettingsTest, EmptyAndFullSettingsAreValid) {
  EXPECT_TRUE(ValidateJobSettings(JobSettings{}).ok());
  EXPECT_TRUE(ValidateJobSettings(AllSet()).ok());
  JobSettings bounds{.active_deadline_seconds = 1,
                     .backoff_limit = 2147483647,
                     .ttl_seconds_after_finished = 0,
                     .queue_name = std::string(63, 'q')};
  EXPECT_TRUE(ValidateJobSettings(bounds).ok());
  bounds.active_deadline_seconds = std::numeric_limits<int64_t>::max();  // an int64 field
  bounds.ttl_seconds_after_finished = 2147483647;
  bounds.backoff_limit = 0;
  EXPECT_TRUE(ValidateJobSettings(bounds).ok());
}

TEST(ValidateJobSettingsTest, EachMemberNamesItsField) {
  JobSettings s;
  s.priority_class_name = "High";
  EXPECT_EQ(Problem(s),
            std::string("invalid Job settings: priorityClassName ") + kNameRule + ", got \"High\"");
  s = JobSettings{.active_deadline_seconds = 0};
  EXPECT_EQ(Problem(s), "invalid Job settings: activeDeadlineSeconds must be > 0 (seconds), got 0");
  s = JobSettings{.active_deadline_seconds = -5};
  EXPECT_EQ(Problem(s),
            "invalid Job settings: activeDeadlineSeconds must be > 0 (seconds), got -5");
  s = JobSettings{.backoff_limit = -1};
  EXPECT_EQ(Problem(s),
            "invalid Job settings: backoffLimit must be an integer between 0 and 2147483647, got "
            "-1");
  s = JobSettings{.backoff_limit = 2147483648};
  EXPECT_EQ(Problem(s),
            "invalid Job settings: backoffLimit must be an integer between 0 and 2147483647, got "
            "2147483648");
  s = JobSettings{.ttl_seconds_after_finished = -1};
  EXPECT_EQ(Problem(s),
            "invalid Job settings: ttlSecondsAfterFinished must be an integer between 0 and "
            "2147483647, got -1");
  s = JobSettings{.service_account_name = "my_sa"};
  EXPECT_EQ(Problem(s), std::string("invalid Job settings: serviceAccountName ") + kNameRule +
                            ", got \"my_sa\"");
  s = JobSettings{.queue_name = std::string(64, 'q')};
  EXPECT_EQ(Problem(s),
            std::string("invalid Job settings: queueName ") + kQueueRule + ", got 64 characters");
}

TEST(ValidateJobSettingsTest, EveryProblemIsListed) {
  const JobSettings s{.priority_class_name = "A",
                      .active_deadline_seconds = 0,
                      .backoff_limit = -1,
                      .ttl_seconds_after_finished = -2,
                      .service_account_name = "B",
                      .queue_name = "C"};
  EXPECT_EQ(Problem(s),
            std::string("invalid Job settings: priorityClassName ") + kNameRule +
                ", got \"A\"; activeDeadlineSeconds must be > 0 (seconds), got 0; backoffLimit "
                "must be an integer between 0 and 2147483647, got -1; ttlSecondsAfterFinished "
                "must be an integer between 0 and 2147483647, got -2; serviceAccountName " +
                kNameRule + ", got \"B\"; queueName " + kQueueRule + ", got \"C\"");
}

// ---------------------------------------------------------------------------------------------
// ApplyJobSettings

TEST(ApplyJobSettingsTest, EverySettingLandsWhereItBelongs) {
  json job = MinimalJob();
  ASSERT_TRUE(ApplyJobSettings(AllSet(), &job).ok());
  json want = MinimalJob();
  want["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] = "team-a";
  want["spec"]["activeDeadlineSeconds"] = 3600;
  want["spec"]["backoffLimit"] = 0;
  want["spec"]["ttlSecondsAfterFinished"] = 86400;
  want["spec"]["template"]["spec"]["priorityClassName"] = "team-a-high";
  want["spec"]["template"]["spec"]["serviceAccountName"] = "trainer";
  EXPECT_EQ(job, want) << job.dump(2);
  EXPECT_TRUE(job["spec"]["backoffLimit"].is_number_integer());
}

TEST(ApplyJobSettingsTest, EmptySettingsChangeNothing) {
  json job = MinimalJob();
  ASSERT_TRUE(ApplyJobSettings(JobSettings{}, &job).ok());
  EXPECT_EQ(job, MinimalJob());
}

TEST(ApplyJobSettingsTest, ValuesTheJobHasAreKept) {
  json job = MinimalJob();
  job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] = "own-queue";
  job["spec"]["activeDeadlineSeconds"] = 60;
  job["spec"]["backoffLimit"] = 4;
  job["spec"]["ttlSecondsAfterFinished"] = 0;
  job["spec"]["template"]["spec"]["priorityClassName"] = "batch-low";
  job["spec"]["template"]["spec"]["serviceAccountName"] = "default";
  const json before = job;
  ASSERT_TRUE(ApplyJobSettings(AllSet(), &job).ok());
  EXPECT_EQ(job, before) << job.dump(2);
  // Even a value Kubernetes would reject is the Job's own; the schema check reports it.
  job["spec"]["backoffLimit"] = "3";
  ASSERT_TRUE(ApplyJobSettings(AllSet(), &job).ok());
  EXPECT_EQ(job["spec"]["backoffLimit"], "3");
}

TEST(ApplyJobSettingsTest, NullCountsAsAbsent) {
  json job = MinimalJob();
  job["spec"]["backoffLimit"] = nullptr;
  job["spec"]["template"]["spec"]["priorityClassName"] = nullptr;
  ASSERT_TRUE(ApplyJobSettings(AllSet(), &job).ok());
  EXPECT_EQ(job["spec"]["backoffLimit"], 0);
  EXPECT_EQ(job["spec"]["template"]["spec"]["priorityClassName"], "team-a-high");
}

TEST(ApplyJobSettingsTest, MissingObjectsOnTheWayAreCreated) {
  json job = {{"apiVersion", "batch/v1"}, {"kind", "Job"}};
  ASSERT_TRUE(ApplyJobSettings(AllSet(), &job).ok());
  EXPECT_EQ(job, json::parse(R"({
    "apiVersion": "batch/v1", "kind": "Job",
    "metadata": {"labels": {"kueue.x-k8s.io/queue-name": "team-a"}},
    "spec": {"activeDeadlineSeconds": 3600, "backoffLimit": 0, "ttlSecondsAfterFinished": 86400,
             "template": {"spec": {"priorityClassName": "team-a-high",
                                   "serviceAccountName": "trainer"}}}
  })"))
      << job.dump(2);
  // Only what a setting needs is created.
  job = {{"apiVersion", "batch/v1"}, {"kind", "Job"}};
  ASSERT_TRUE(ApplyJobSettings(JobSettings{.backoff_limit = 2}, &job).ok());
  EXPECT_EQ(job, json::parse(R"({"apiVersion": "batch/v1", "kind": "Job",
                                 "spec": {"backoffLimit": 2}})"));
  job = {{"apiVersion", "batch/v1"}, {"kind", "Job"}, {"metadata", nullptr}};
  ASSERT_TRUE(ApplyJobSettings(JobSettings{.queue_name = "q"}, &job).ok());
  EXPECT_EQ(job["metadata"], json::parse(R"({"labels": {"kueue.x-k8s.io/queue-name": "q"}})"));
}

TEST(ApplyJobSettingsTest, NotAJob) {
  for (const json& object :
       {json::parse(R"({"apiVersion": "v1", "kind": "Pod"})"),
        json::parse(R"({"apiVersion": "kubeflow.org/v1", "kind": "TFJob"})"),
        json::parse(R"({"apiVersion": "batch/v2", "kind": "Job"})"), json::parse(R"({})")}) {
    json job = object;
    absl::Status s = ApplyJobSettings(AllSet(), &job);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << object;
    EXPECT_EQ(job, object);
  }
  json pod = json::parse(R"({"apiVersion": "v1", "kind": "Pod"})");
  EXPECT_EQ(ApplyJobSettings(JobSettings{}, &pod).message(),
            "cannot apply the Job settings: the object is not a batch/v1 Job (got apiVersion "
            "\"v1\", kind \"Pod\")");
  json list = json::array();
  EXPECT_EQ(ApplyJobSettings(JobSettings{}, &list).message(),
            "cannot apply the Job settings: the object is not a batch/v1 Job (got array)");
}

TEST(ApplyJobSettingsTest, FieldOnTheWayThatIsNotAMapLeavesTheJobUnchanged) {
  struct Case {
    const char* pointer;  // a JSON pointer to replace by a string
    const char* path;
  };
  for (const Case& c : {Case{"/metadata", "metadata"}, Case{"/metadata/labels", "metadata.labels"},
                        Case{"/spec", "spec"}, Case{"/spec/template", "spec.template"},
                        Case{"/spec/template/spec", "spec.template.spec"}}) {
    json job = MinimalJob();
    job[json::json_pointer(c.pointer)] = "oops";
    const json before = job;
    absl::Status s = ApplyJobSettings(AllSet(), &job);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.path;
    EXPECT_EQ(s.message(), std::string("cannot apply the Job settings: ") + c.path +
                               " must be a map, got string")
        << c.path;
    EXPECT_EQ(job, before) << c.path;
  }
  // A pod template that is not a map does not matter to a setting that does not need it.
  json job = MinimalJob();
  job["spec"]["template"] = 3;
  EXPECT_TRUE(ApplyJobSettings(JobSettings{.backoff_limit = 1}, &job).ok());
  EXPECT_EQ(job["spec"]["backoffLimit"], 1);
}

TEST(ApplyJobSettingsTest, InvalidSettingsAreRejectedBeforeAnythingIsWritten) {
  json job = MinimalJob();
  JobSettings s = AllSet();
  s.backoff_limit = -1;
  absl::Status st = ApplyJobSettings(s, &job);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("backoffLimit must be an integer between 0 and"));
  EXPECT_EQ(job, MinimalJob());
}

}  // namespace
}  // namespace hpt::runner::k8s
