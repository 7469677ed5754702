from setuptools import setup

package_name = "swiftcast_tools"

setup(
    name=package_name,
    version="0.1.0",
    packages=[package_name],
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="SwiftCast developers",
    maintainer_email="dev@swiftcast.invalid",
    description="Rosbag replay player/recorder for evaluating the SwiftCast stack",
    license="Apache-2.0",
    entry_points={"console_scripts": ["bag_replay = swiftcast_tools.bag_replay:main"]},
)
